"""The swiftqueue part of `make demo`: one held-out trace, per-flow L4S against per-flow classic, SwiftQueue (the
decision classifier, app policy `decision`), the latency predictor's policy (app policy `swiftqueue`) and the oracle
(each packet into the queue the simulated bottleneck's state says it leaves first: the upper bound). Rows are
named as in `netkit swiftqueue bench`."""
from __future__ import annotations

from pathlib import Path

from netkit.experiment.output import write_json


def demo_part(out: Path) -> list[str]:
    """15 simulated seconds per policy over the steps trace with L4S bursts; results.json in `out`."""
    from netkit.apps.swiftqueue.dataset import simulate

    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    # the bench's names: its `swiftqueue` is the classifier (app policy `decision`)
    names = {"l4s": "l4s", "classic": "classic", "decision": "swiftqueue", "swiftqueue": "swiftqueue-latency",
             "oracle": "oracle"}
    for pol, name in names.items():
        rows[name] = simulate("traces/steps-12-3-24-6.trace", 200, "bursts", pol, 15.0).metrics
    write_json(out / "results.json", rows)
    lines = ["SwiftQueue, a 0.6 Mbit/s Prague flow beside a Prague bulk flow and unresponsive ECT(1) bursts "
             f"(held-out steps trace, 15 s) -> {out}/"]
    for pol, m in rows.items():
        lines.append(f"    {pol:18s} p50 {m['latency_ms_p50']:.1f} ms, p99 {m['latency_ms_p99']:.1f} ms, "
                     f"{m['throughput_mbps']:.2f} Mbit/s, {100 * m['share_l']:.0f}% of packets in L")
    return lines

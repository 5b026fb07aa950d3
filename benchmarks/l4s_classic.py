"""Prague's safety over classic bottlenecks: Prague against Cubic or Reno through drop-based AQMs.

With no L4S queue, Prague's ECT(1) packets get no marks, only drops; it must then
behave like a classic flow (halve on loss) and leave the other flow its share.

    .venv/bin/python benchmarks/l4s_classic.py [--rate 12] [--duration 20]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from netkit.experiment.replay import ReplayConfig, run_replay
from netkit.trace import write_mahimahi
from netkit.trace.synth import constant

QUEUES = [
    "droptail:packets=100",
    "pie:packets=1000,qdelay_ref=15,max_burst=150",
    "codel:packets=1000,target=5,interval=100",
]


def main() -> None:
    """One row per (queue, competitor): throughputs, their ratio, Prague's CE and loss reactions."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=12.0, help="bottleneck Mbit/s")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rtt", type=float, default=20.0, help="base RTT in ms")
    args = p.parse_args()
    print("| queue | flows | Mbit/s | Prague/other | utilisation | Prague CE reductions | Prague loss reductions |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        trace = str(Path(tmp) / "constant.trace")
        write_mahimahi(constant(args.rate, 10.0), trace)
        for queue in QUEUES:
            for other in ("cubic", "reno"):
                cfg = ReplayConfig(trace=trace, delay_ms=args.rtt / 2, queue=queue, apps=["prague", other],
                                   duration_s=args.duration, warmup_s=2.0)
                result = run_replay(cfg)
                flows = result.summary["flows"]
                cc = result.network.flows[0].sender.endpoint.cc
                a, b = flows[0]["throughput_mbps"], flows[1]["throughput_mbps"]
                print(f"| {queue.split(':')[0]} | prague + {other} | {a:.2f} / {b:.2f} | {a / b:.2f} | "
                      f"{result.summary['utilization']:.3f} | {cc.ce_events} | {cc.loss_events} |")


if __name__ == "__main__":
    main()

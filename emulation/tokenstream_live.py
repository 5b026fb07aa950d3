"""Token streaming live: every scheme over real sockets behind the real-time trace link, next to the simulator.

Needs root (network namespaces, TUN). For each path below, each scheme streams the
same 300-token response (30 tokens/s) live and then in the simulator from the same
point of the trace with the same loss seed; the table shows both stall ratios.
`retransmit` runs over the kernel's TCP live (as chatbots do) and, for a like-for-like
check, over netkit's reliable stream on UDP (`retransmit*`).

    sudo .venv/bin/python emulation/tokenstream_live.py [--traces-dir DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netkit.apps.tokenstream.live import compare_live_sim, emu_unavailable
from netkit.net import LinkDirection
from netkit.trace.locate import lte_dir
from netkit.apps.tokenstream.schemes import SCHEMES
from netkit.apps.tokenstream.sources import synthetic
from netkit.experiment.output import staged_output, write_json

ROOT = Path(__file__).resolve().parent.parent


def paths(traces_dir: Path | None) -> list[LinkDirection]:
    """The documented live configurations (the LTE one only where the traces are)."""
    out = [LinkDirection("constant:12", delay_ms=50, loss=0.1, loss_model="bernoulli")]
    if traces_dir is not None and (traces_dir / "TMobile-LTE-short.down").exists():
        out.append(LinkDirection(str(traces_dir / "TMobile-LTE-short.down"), delay_ms=50, loss=0.1, loss_model="ge"))
    return out


def main() -> int:
    """Run every scheme live and simulated on each path; print and save the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--traces-dir", type=Path, default=lte_dir(),
                   help="folder of Mahimahi traces (default: NETKIT_TRACES or ../shared/traces)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "tokenstream-live")
    args = p.parse_args()
    why = emu_unavailable()
    if why:
        print(f"cannot run live: {why}", file=sys.stderr)
        return 2
    sched = synthetic(300, 30, 10, seed=args.seed)
    rows = []
    print(f"{'path':<34} {'scheme':<12} {'live over':<11} {'sim stall':>9} {'live stall':>10} {'diff':>7}")
    for path in paths(args.traces_dir):
        got = compare_live_sim(list(SCHEMES), sched, path, args.seed)
        got += [dict(r, scheme="retransmit*") for r in
                compare_live_sim(["retransmit"], sched, path, args.seed, kernel_tcp=False)]
        for r in got:
            s, live = r["sim"]["stall_ratio"], r["live"]["stall_ratio"]
            label = f"{path.label} {path.loss_model} {path.loss:g}"
            print(f"{label:<34} {r['scheme']:<12} {r['transport']:<11} {s:>9.4f} {live:>10.4f} "
                  f"{(live - s) / s * 100 if s else 0:>+6.1f}%", flush=True)
        rows += got
    with staged_output(args.out, force=True) as stage:
        write_json(stage / "results.json", {"runs": rows})
    print(f"-> {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

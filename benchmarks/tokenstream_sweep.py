"""The documented tokenstream sweep (docs/tokenstream.md): stall ratio per scheme and Eloquent's reductions.

Runs `netkit tokenstream bench` over the real LTE traces (Mahimahi's Saturator
recordings, by path) and a constant 12 Mbit/s link, Bernoulli and Gilbert-Elliott
loss from 0 to 20 %, 10 seeds; prints the table, the reductions against the
paper's, and the simulator's speed; copies the plot to docs/img/.

    .venv/bin/python benchmarks/tokenstream_sweep.py [--traces-dir DIR] [--seeds N] [--out DIR] [--jobs N]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from netkit.cli import main as netkit_main
from netkit.trace.locate import lte_dir

ROOT = Path(__file__).resolve().parent.parent
LTE = ("ATT-LTE-driving.down", "TMobile-LTE-driving.down", "TMobile-LTE-short.down", "Verizon-LTE-short.down")


def sweep_args(traces_dir: Path, seeds: int, out: Path, jobs: int, source: str = "synthetic",
               token_trace: str | None = None) -> list[str]:
    """The `netkit tokenstream bench` arguments of the documented sweep, for one token source."""
    args = ["tokenstream", "bench", "--trace", "constant:12"]
    for name in LTE:
        args += ["--trace", str(traces_dir / name)]
    for p in ("0", "0.05", "0.1", "0.15", "0.2"):
        args += ["--loss", p]
    args += ["--loss-model", "bernoulli", "--loss-model", "ge", "--loss-burst", "3", "--seeds", str(seeds),
             "--delay", "50", "--tokens", "300", "--jobs", str(jobs), "--out", str(out), "--force"]
    if source == "synthetic":
        args += ["--rate", "30", "--jitter", "10"]
    elif source == "trace":
        args += ["--source", "trace", "--token-trace", str(token_trace)]
    else:  # a model generates the answer on this CPU now
        args += ["--source", source]
    return args


def main() -> int:
    """Run the sweep and copy its plot into the docs."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--traces-dir", type=Path, default=lte_dir() or ROOT / "traces",
                   help="folder of the Mahimahi traces (default: NETKIT_TRACES or ../shared/traces)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "tokenstream-bench")
    p.add_argument("--no-docs", action="store_true", help="do not copy the plot into docs/img")
    p.add_argument("--source", default="synthetic", choices=["synthetic", "trace", "smollm2-135m"],
                   help="token source: the synthetic answer (default, the documented sweep), a timing trace "
                        "(--token-trace), or smollm2-135m generating on this CPU")
    p.add_argument("--token-trace", help="timing trace for --source trace")
    args = p.parse_args()
    missing = [n for n in LTE if not (args.traces_dir / n).exists()]
    if missing:
        print(f"missing traces in {args.traces_dir}: {', '.join(missing)}", file=sys.stderr)
        return 2
    argv = sweep_args(args.traces_dir, args.seeds, args.out, args.jobs, args.source, args.token_trace)
    print("netkit " + " ".join(argv), flush=True)
    sys.argv = ["netkit", *argv]  # recorded as the command in results.json
    t0 = time.perf_counter()
    rc = netkit_main(argv)
    wall = time.perf_counter() - t0
    if rc:
        return rc
    runs = 5 * 2 * 5 * args.seeds * 4
    print(f"\n{runs} simulated streams in {wall:.1f} s ({runs / wall:.0f} streams/s, {args.jobs} workers)")
    if not args.no_docs and args.source == "synthetic":
        dst = ROOT / "docs" / "img" / "tokenstream_stall_vs_loss.png"
        shutil.copyfile(args.out / "stall_vs_loss.png", dst)
        print(f"plot -> {dst.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

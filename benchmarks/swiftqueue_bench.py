"""SwiftQueue's quality targets on the held-out traces: `netkit swiftqueue bench` over the test split.

    .venv/bin/python benchmarks/swiftqueue_bench.py [--seeds 2] [--duration 30] [--out results/swiftqueue-bench]

Prints the transformer's MAE against the best simple baseline and the GRU, and the measured flow's p99
against per-flow L4S (targets: >= 45% lower MAE; >= 36% lower p99 with throughput within 10%).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Run the bench on the test traces that exist here."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "results" / "swiftqueue-bench"))
    args = ap.parse_args()
    from netkit.apps.swiftqueue import scenario
    from netkit.cli import main as netkit

    traces = []
    for t in scenario.TEST_TRACES:
        try:
            traces.append(scenario.resolve_trace(t))
        except ValueError as exc:
            print(f"skipping {t}: {exc}")
    argv = ["swiftqueue", "bench", "--duration", str(args.duration), "--seeds", str(args.seeds),
            "--out", args.out, "--force"]
    for t in traces:
        argv += ["--trace", t]
    return netkit(argv)


if __name__ == "__main__":
    sys.exit(main())

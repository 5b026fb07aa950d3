"""SwiftQueue's error margin and probe interval, chosen on the TRAINING traces only: pooled p99 of the measured flow
for per-flow L4S and for the SwiftQueue policy at each error margin and probe interval, side by side in one run (validation seed 300; the bench's
held-out traces are never run here).

    .venv/bin/python benchmarks/swiftqueue_margin.py [--margins 0,1,2] [--probes 100] [--model models/swiftqueue/swiftqueue.pt]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VALIDATION_SEED = 300  # differs from the training seeds (0..), the card's held-out seed (100) and the bench's (200)


def main() -> int:
    """Run and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "swiftqueue" / "swiftqueue.pt"))
    ap.add_argument("--margins", default="0,1,2", help="comma-separated error margins")
    ap.add_argument("--probes", default="100", help="comma-separated probe intervals (ms) into the other queue")
    ap.add_argument("--duration", type=float, default=30.0)
    args = ap.parse_args()
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.bench import latency_stats
    from netkit.apps.swiftqueue.dataset import simulate

    margins = [float(m) for m in args.margins.split(",")]
    probes = [float(p) for p in args.probes.split(",")]
    grid = [(m, p) for m in margins for p in probes]
    label = (lambda m, p: f"swiftqueue margin {m:g}" if len(probes) == 1 else f"swiftqueue margin {m:g} probe {p:g}")
    runs: dict[str, list] = {"l4s": [], **{label(m, p): [] for m, p in grid}}
    for tr in scenario.TRAIN_TRACES:
        path = scenario.resolve_trace(tr)
        for mix in scenario.MIXES:
            runs["l4s"].append(simulate(path, VALIDATION_SEED, mix, "l4s", args.duration))
            for m, p in grid:
                runs[label(m, p)].append(simulate(path, VALIDATION_SEED, mix, "swiftqueue", args.duration,
                                                  model=args.model, error_margin=m, probe_ms=p))
    base = latency_stats(runs["l4s"])
    for name, rs in runs.items():
        s = latency_stats(rs)
        print(f"{name:34s} p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:6.1f} ms ({100 * (1 - s['p99_ms'] / base['p99_ms']):+.1f}% "
              f"below l4s)  {s['throughput_mbps']:.3f} Mbit/s  L share {s['share_l']:.2f}  spurious "
              f"{s['spurious_retransmits']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

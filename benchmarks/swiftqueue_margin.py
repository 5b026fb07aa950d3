"""SwiftQueue's error margin and probe interval, chosen on the TRAINING traces only: pooled p99 of the measured flow
for per-flow L4S and for the SwiftQueue policy at each error margin and probe interval, side by side in one run (validation seed 300; the bench's
held-out traces are never run here). With `--decision-model`, the decision policy (`policy.DecisionPolicy`) at each
of `--thresholds` and `--decision-probes` instead of the SwiftQueue sweep (`--margins ''` leaves that out).

    .venv/bin/python benchmarks/swiftqueue_margin.py [--margins 0,1,2] [--probes 100] [--model models/swiftqueue/swiftqueue.pt]
        [--decision-model FILE --thresholds 0.3,0.5,0.7 --decision-probes 0] [--seeds 1] [--json FILE]
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
    ap.add_argument("--decision-model", help="a decision model (netkit swiftqueue train --target decision)")
    ap.add_argument("--thresholds", default="0.5", help="comma-separated decision thresholds")
    ap.add_argument("--decision-probes", default="0", help="comma-separated decision probe intervals (ms; 0: none)")
    ap.add_argument("--seeds", type=int, default=1, help="validation seeds from 300")
    ap.add_argument("--json", help="also write the pooled rows here")
    args = ap.parse_args()
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.bench import latency_stats
    from netkit.apps.swiftqueue.dataset import simulate

    margins = [float(m) for m in args.margins.split(",") if m.strip()]
    probes = [float(p) for p in args.probes.split(",")]
    grid = [(m, p) for m in margins for p in probes]
    label = (lambda m, p: f"swiftqueue margin {m:g}" if len(probes) == 1 else f"swiftqueue margin {m:g} probe {p:g}")
    runs: dict[str, list] = {"l4s": [], **{label(m, p): [] for m, p in grid}}
    dgrid = []
    if args.decision_model:
        dprobes = [float(p) for p in args.decision_probes.split(",")]
        dgrid = [(float(t), p) for t in args.thresholds.split(",") for p in dprobes]
        runs.update({f"decision threshold {t:g} probe {p:g}": [] for t, p in dgrid})
    for tr in scenario.TRAIN_TRACES:
        path = scenario.resolve_trace(tr)
        for mix in scenario.MIXES:
            for seed in range(VALIDATION_SEED, VALIDATION_SEED + args.seeds):
                runs["l4s"].append(simulate(path, seed, mix, "l4s", args.duration))
                for m, p in grid:
                    runs[label(m, p)].append(simulate(path, seed, mix, "swiftqueue", args.duration,
                                                      model=args.model, error_margin=m, probe_ms=p))
                for t, p in dgrid:
                    runs[f"decision threshold {t:g} probe {p:g}"].append(
                        simulate(path, seed, mix, "decision", args.duration, model=args.decision_model,
                                 decision_threshold=t, decision_probe_ms=p))
    base = latency_stats(runs["l4s"])
    rows = {}
    for name, rs in runs.items():
        s = latency_stats(rs)
        rows[name] = {**s, "p99_by_run": [r.metrics["latency_ms_p99"] for r in rs]}
        print(f"{name:34s} p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:6.1f} ms ({100 * (1 - s['p99_ms'] / base['p99_ms']):+.1f}% "
              f"below l4s)  {s['throughput_mbps']:.3f} Mbit/s  L share {s['share_l']:.2f}  spurious "
              f"{s['spurious_retransmits']:.0f}")
    if args.json:
        import json

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "pooled": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two SwiftQueue model pairs (transformer + GRU) on the same held-out points: the model card's test set (test
traces, both mixes, seed 100, the measured flow driven by the last-value policy), re-simulated with this tree's
sender, each simple baseline with each pair's fitted bias. What decides whether new weights replace the committed ones.
With --validation the points come from the TRAINING traces at validation seed 300 instead (unseen runs of the
training traces: what a choice between models is made on, before the held-out set is looked at). --policy names
the data policy that drives the measured flow (default last; `swiftqueue`: the latency predictor's policy with
the committed model at error margin 3, the kind of feedback `netkit swiftqueue bench` scores the predictors on).

    .venv/bin/python benchmarks/swiftqueue_models.py NEW_DIR [--old models/swiftqueue] [--validation] [--policy P]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Evaluate and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("new", help="folder with swiftqueue.pt and swiftqueue_gru.pt")
    ap.add_argument("--old", default=str(ROOT / "models" / "swiftqueue"))
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--validation", action="store_true", help="training traces, seed 300 (not the test traces)")
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.dataset import DATA_POLICIES, generate, windows

    ap.add_argument("--policy", default="last", choices=[p for p in DATA_POLICIES if p != "decision"],
                    help="data policy driving the measured flow (default last)")
    args = ap.parse_args()
    from netkit.apps.swiftqueue.evaluate import error_metrics, model_predictions, simple_predictions
    from netkit.apps.swiftqueue.model import load_model, model_spec

    pairs = {tag: (load_model(Path(d) / "swiftqueue.pt"), load_model(Path(d) / "swiftqueue_gru.pt"))
             for tag, d in (("old", args.old), ("new", args.new))}
    traces, seed = (scenario.TRAIN_TRACES, 300) if args.validation else (scenario.TEST_TRACES, 100)
    runs = generate(list(traces), [seed], list(scenario.MIXES), args.policy, duration_s=args.duration)
    first = max(model_spec(m).history for p in pairs.values() for m in p) - 1  # the same points for all
    for tag, (tf, gru) in pairs.items():
        w = windows(runs, model_spec(tf), first)
        wg = windows(runs, model_spec(gru), first)
        bias = {k: tuple(v) for k, v in tf.meta["extra"]["simple_bias_ms"].items()}
        res = {"swiftqueue": error_metrics(model_predictions(tf, w), w),
               "lstm": error_metrics(model_predictions(gru, wg), wg)}
        for name in ("last", "ewma", "mean"):
            res[name] = error_metrics(simple_predictions(runs, w, name, bias[name]), w)
        best = min(("last", "ewma", "mean"), key=lambda k: res[k]["mae_ms"])
        for k, v in res.items():
            print(f"{tag} {k:10s} MAE {v['mae_ms']:.3f}  RMSE {v['rmse_ms']:.3f}  p99 {v['p99_abs_err_ms']:.2f}  "
                  f"sharp {v['sharp_mae_ms']:.3f}  ({v['points']} errors)")
        tm = res["swiftqueue"]["mae_ms"]
        print(f"{tag}: transformer MAE {100 * (1 - tm / res[best]['mae_ms']):.1f}% below {best}, "
              f"{100 * (tm / res['lstm']['mae_ms'] - 1):+.1f}% against the GRU")
    return 0


if __name__ == "__main__":
    sys.exit(main())

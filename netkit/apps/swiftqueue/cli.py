"""`netkit swiftqueue train|bench`: train the latency predictors; benchmark prediction, latency and inference."""
from __future__ import annotations

import argparse
import sys
import zlib
from netkit import validate as v


def add_swiftqueue_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit swiftqueue` (nothing heavy is imported until a subcommand runs)."""
    p = sub.add_parser("swiftqueue", help="per-packet L4S queue selection from a transformer latency predictor")
    ssub = p.add_subparsers(dest="swiftqueue_cmd", required=True)
    t = ssub.add_parser("train", help="simulate data, train the transformer and the GRU, write models and card")
    t.add_argument("--name", default="swiftqueue", help="model name: writes OUT/NAME.pt, NAME_gru.pt, NAME.md")
    t.add_argument("--out", default="models/swiftqueue", help="model folder (default models/swiftqueue)")
    t.add_argument("--seeds", type=v.arg_int(1, 1000), default=3, help="seeds per training trace and mix (default 3)")
    t.add_argument("--duration", type=v.duration_arg, default=30.0, help="simulated seconds per run (default 30)")
    t.add_argument("--epochs", type=v.arg_int(1, 100_000), default=30, help="training epochs at most (default 30)")
    t.add_argument("--budget-min", type=v.arg_number(above=0, maximum=24 * 60), default=8.0, help="training time budget, both models (default 8)")
    t.add_argument("--seed", type=v.seed_arg, default=0, help="training seed (default 0)")
    t.add_argument("--dropout", type=v.probability_arg, default=0.0, help="transformer dropout (default 0)")
    t.add_argument("--recent", type=v.arg_int(1, 4096), default=16, help="newest samples at full resolution, one token each (16)")
    t.add_argument("--blocks", type=v.arg_int(0, 4096), default=12, help="older blocks of samples, one token each (12)")
    t.add_argument("--block", type=v.arg_int(1, 4096), default=8, help="samples per older block, averaged (8)")
    t.add_argument("--no-staleness", dest="staleness", action="store_false",
                   help="leave out the time since the last sample of each queue")
    t.add_argument("--lr", type=v.arg_number(above=0, maximum=10.0), default=1e-3, help="peak learning rate of the one-cycle schedule (1e-3)")
    t.add_argument("--activation", choices=("relu", "gelu"), default="relu",
                   help="transformer feed-forward activation (default relu: cheaper per inference)")
    t.add_argument("--inflight", action="store_true",
                   help="add the flow's own packets in flight in each queue to the features")
    t.add_argument("--target", choices=("sojourn", "lookahead", "bound", "decision"), default="sojourn",
                   help="what the models learn: the true sojourn of each queue (sojourn), the oracle's lookahead "
                        "with the flow's own packets in the queues (lookahead), the larger of the two (bound), or "
                        "the oracle's decision, C faster by --decision-margin (decision: a classifier)")
    t.add_argument("--decision-margin", type=v.arg_number(0, 1000.0), default=5.0,
                   help="--target decision: label 1 where C is at least this many ms faster (default 5)")
    t.add_argument("--unweighted", dest="decision_weighted", action="store_false",
                   help="--target decision: do not weight each point by the cost |L - C| of a wrong decision")
    t.add_argument("--dagger-model",
                   help="the model that drives a DAgger data policy: a decision model drives `decision`, a latency "
                        "model `swiftqueue` (default there: the committed latency model)")
    t.add_argument("--dagger-threshold", type=v.probability_arg, default=0.5,
                   help="a decision --dagger-model's threshold in the runs of `decision` (default 0.5)")
    t.add_argument("--data-policies", default="last",
                   help="comma-separated policies that drive the measured flow for training data "
                        "(last,ewma,mean,l4s,oracle-stale,decision,swiftqueue: the latency predictor's policy "
                        "at error margin 3, with the committed model or --dagger-model)")
    t.add_argument("--trace-windows", type=v.arg_int(1, 1000), default=1,
                   help="seed i enters each training trace at window i mod N of N equal parts, so a long "
                        "recording gives more than its first --duration seconds (default 1: all at the start)")
    t.set_defaults(func=_train)
    b = ssub.add_parser("bench", help="prediction error, latency per policy and inference cost on given traces")
    b.add_argument("--trace", action="append", dest="traces", metavar="FILE", required=True,
                   help="bottleneck trace (file, a real trace's name, or constant:MBPS); repeatable")
    b.add_argument("--duration", type=v.duration_arg, default=30.0, help="simulated seconds per run (default 30)")
    b.add_argument("--seeds", type=v.arg_int(1, 1000), default=1, help="seeds per trace and mix (default 1)")
    b.add_argument("--mix", action="append", dest="mixes", choices=("bursts", "mixed"),
                   help="traffic mixes (default both)")
    b.add_argument("--model", help="transformer file (default models/swiftqueue/swiftqueue.pt)")
    b.add_argument("--gru-model", help="GRU file (default beside --model: NAME_gru.pt)")
    b.add_argument("--error-margin", type=v.arg_number(0, 1000.0), default=12.0,
                   help="move into C only when the predicted gain exceeds this many of the predictor's recent "
                        "errors on C (default 12, the app's; 0: off)")
    b.add_argument("--decision-model", help="the swiftqueue policy's decision classifier (netkit swiftqueue train "
                   "--target decision; default models/swiftqueue/swiftqueue_decision.pt)")
    b.add_argument("--decision-threshold", type=v.arg_number(0, 1.0), default=0.9,
                   help="the swiftqueue policy sends into C when P(C faster) exceeds this (default 0.9)")
    b.add_argument("--decision-probe-ms", type=v.delay_arg, default=0.0,
                   help="the swiftqueue policy probes C when no packet went there for this long (default 0: never)")
    b.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    b.add_argument("--force", action="store_true", help="replace an existing --out folder")
    b.set_defaults(func=_bench)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _train(args: argparse.Namespace) -> int:
    _positive("--seeds", args.seeds)
    _positive("--duration", args.duration)
    _positive("--epochs", args.epochs)
    _positive("--lr", args.lr)
    from netkit.apps.swiftqueue.dataset import DATA_POLICIES

    policies = tuple(p.strip() for p in args.data_policies.split(",") if p.strip())
    bad = [p for p in policies if p not in DATA_POLICIES]
    if bad or not policies:
        raise ValueError(f"--data-policies: expected a comma-separated list of {', '.join(DATA_POLICIES)}, got "
                         f"{args.data_policies!r}")
    from netkit.apps.swiftqueue.features import FeatureSpec
    from netkit.apps.swiftqueue.train import train_command
    from netkit.errors import UserError
    from netkit.files import check_writable

    if not args.name.strip() or "/" in args.name or args.name.strip(".") == "":
        raise UserError(f"expected a model name usable as a file name, got {args.name!r}", source="--name")
    check_writable(args.out, "--out", folder=True)  # before the simulation and the training, not after

    if args.recent < 1 or args.blocks < 0 or args.block < 1:
        raise ValueError(f"--recent must be >= 1, --blocks >= 0, --block >= 1; got {args.recent}, {args.blocks}, "
                         f"{args.block}")
    spec = FeatureSpec(args.recent, args.blocks, args.block, args.staleness, args.inflight)
    card = train_command(args.name, args.out, args.seeds, args.duration, args.epochs, args.budget_min, args.seed,
                         log=lambda s: print(s, file=sys.stderr), dropout=args.dropout, spec=spec,
                         data_policies=policies, activation=args.activation, lr=args.lr, target=args.target,
                         decision_margin_ms=args.decision_margin, decision_weighted=args.decision_weighted,
                         dagger_model=args.dagger_model, dagger_threshold=args.dagger_threshold,
                         trace_windows=args.trace_windows)
    for k, m in card["held_out"].items():
        if args.target == "decision":
            print(f"{k:11s} AUC {m['auc']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                  f"to C {m['to_c_share']:.3f}  gain {m['gain_ms_per_point']:+.3f} ms/point "
                  f"(oracle {m['oracle_gain_ms_per_point']:.3f})")
            continue
        print(f"{k:11s} MAE {m['mae_ms']:.3f} ms  RMSE {m['rmse_ms']:.3f}  p99 {m['p99_abs_err_ms']:.2f}  "
              f"sharp {m['sharp_mae_ms']:.3f}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    _positive("--seeds", args.seeds)
    _positive("--duration", args.duration)
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.bench import BenchConfig, run_bench
    from netkit.apps.swiftqueue.plots import write_plots
    from netkit.experiment.output import RunLog, config_record, run_record, staged_output, write_json

    from netkit.errors import UserError
    from netkit.net.direction import get_trace

    traces = []
    for t in args.traces:
        try:
            traces.append(scenario.resolve_trace(t))
            get_trace(traces[-1])  # a bad trace fails here, before any run
        except ValueError as exc:
            raise UserError(f"{t!r}: {exc}", source="--trace") from None
    cfg = BenchConfig(traces, args.duration, args.seeds, args.mixes or list(scenario.MIXES), args.model,
                      args.gru_model, error_margin=args.error_margin, decision_model=args.decision_model,
                      decision_threshold=args.decision_threshold, decision_probe_ms=args.decision_probe_ms)
    with staged_output(args.out, force=args.force) as stage:
        with RunLog(stage / "runs.jsonl") as log:
            def on_run(r: dict) -> None:
                params = {k: r[k] for k in ("trace", "mix", "seed", "policy")}
                run_id = f"{r['policy']}-{r['mix']}-{r['seed']}-{zlib.crc32(r['trace'].encode()):08x}"
                log.append(run_record(run_id, params, r["metrics"], wall_s=r["wall_s"]))

            summary, data = run_bench(cfg, log=lambda s: print(s, file=sys.stderr), on_run=on_run)
        write_json(stage / "summary.json", summary)
        write_json(stage / "config.json", config_record(summary["config"], "netkit swiftqueue bench"))
        write_plots(stage, data)
    c = summary["checks"]
    print(f"prediction MAE: " + ", ".join(f"{k} {v['mae_ms']:.3f}" for k, v in summary["prediction"].items())
          + f" ms; transformer {100 * c['mae_reduction_vs_best_simple']:.1f}% below {c['best_simple_baseline']}")
    print("latency p99: " + ", ".join(f"{k} {v['p99_ms']:.1f}" for k, v in summary["latency"].items())
          + f" ms; swiftqueue {100 * c['p99_reduction_vs_l4s']:.1f}% below l4s (the latency predictor's policy "
          f"{100 * c['latency_predictor_p99_reduction_vs_l4s']:.1f}%), throughput ratio {c['throughput_ratio_vs_l4s']:.2f}")
    print(f"inference: {summary['inference_us_per_packet']:.1f} µs per packet at 200 Mbit/s")
    return 0

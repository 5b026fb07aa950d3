"""`netkit tokenstream ...`: the bench sweep, recording a model's token timing, the live run and the WebRTC demo."""
from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from netkit.apps.tokenstream.schemes import SCHEMES
from netkit import validate as v

CONSTANT_TRACE = "constant:12"
LOSS_MODELS = ("bernoulli", "ge")


def add_tokenstream_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit tokenstream` and its subcommands."""
    p = sub.add_parser("tokenstream", help="Eloquent LLM token streaming against retransmission and duplication")
    tsub = p.add_subparsers(dest="tokenstream_cmd", required=True)
    _add_bench(tsub)
    _add_record(tsub)
    _add_live(tsub)
    _add_rtc(tsub)


def _add_source_args(p: argparse.ArgumentParser, tokens: int = 300) -> None:
    p.add_argument("--tokens", type=v.arg_int(1, 1_000_000), default=tokens,
                   help=f"synthetic source: tokens per response (default {tokens})")
    p.add_argument("--rate", type=v.arg_number(above=0, maximum=1e6), default=30.0, help="synthetic source: tokens per second (default 30)")
    p.add_argument("--jitter", type=v.arg_number(0, 1e5), default=10.0, help="synthetic source: gap std dev in ms (default 10)")
    p.add_argument("--token-trace", type=v.in_file, help="timing trace of inter-token gaps instead of the synthetic source")


def _add_bench(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("bench", help="simulator sweep: stall ratio per scheme and Eloquent's reductions")
    p.add_argument("--trace", action="extend", nargs="+", dest="traces", metavar="FILE",
                   help=f"downlink traces (Mahimahi or any netkit format) or constant:MBPS; repeatable "
                        f"(default {CONSTANT_TRACE})")
    p.add_argument("--loss", action="extend", nargs="+", type=v.probability_arg, dest="losses", metavar="P",
                   help="downlink loss rates (default 0 0.05 0.1 0.15 0.2)")
    p.add_argument("--loss-model", action="extend", nargs="+", dest="loss_models", choices=LOSS_MODELS,
                   help="bernoulli and/or ge (default both)")
    p.add_argument("--loss-burst", "--burst", type=v.burst_arg, default=3.0, dest="burst",
                   help="ge: mean burst length in packets (default 3)")
    p.add_argument("--seeds", type=v.arg_int(1, 10_000), default=3, help="seeds per point (default 3)")
    p.add_argument("--scheme", action="extend", nargs="+", dest="schemes", choices=SCHEMES,
                   help="schemes to run (default all)")
    p.add_argument("--copies", type=v.arg_int(1, 100), default=2, help="duplicate: copies of each packet, k (default 2)")
    p.add_argument("--delay", type=v.delay_arg, default=50.0, help="one-way delay in ms each way (default 50)")
    _add_source_args(p)
    p.add_argument("--source", default=None, choices=["synthetic", "trace", "smollm2-135m"],
                   help="token source: synthetic (default), trace (--token-trace), or smollm2-135m: generate "
                        "--tokens tokens with the real model on this CPU now, record their timing and stream them")
    p.add_argument("--jobs", type=v.jobs_arg, default=1, help="worker processes (default 1)")
    p.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    with _model_source(args) as recorded:
        return _bench_with(args, recorded)


def _bench_with(args: argparse.Namespace, recorded: str | None) -> int:
    from netkit.apps.tokenstream.bench import BenchConfig, run_bench
    from netkit.apps.tokenstream.plots import plot_stall_vs_loss
    from netkit.apps.tokenstream.report import excess_table, loss_table, summary_table
    from netkit.experiment.output import write_json

    cfg = BenchConfig(
        traces=args.traces or [CONSTANT_TRACE], losses=args.losses or [0.0, 0.05, 0.1, 0.15, 0.2],
        loss_models=args.loss_models or list(LOSS_MODELS), burst=args.burst, seeds=args.seeds,
        schemes=args.schemes or list(SCHEMES), copies=args.copies, delay_ms=args.delay, tokens=args.tokens,
        rate_tps=args.rate, jitter_ms=args.jitter, token_trace=recorded or args.token_trace, jobs=args.jobs,
    )
    cfg.validate()
    command = "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def extra(work, results: dict) -> None:
        results["command"] = command
        results["token_source"] = args.source or ("trace" if args.token_trace else "synthetic")
        if recorded:  # the recorded answer goes with the results, replayable with --token-trace
            import shutil

            shutil.copyfile(recorded, work / "token_source.trace")
            results["sweep"]["token_trace"] = "token_source.trace"
        plot_stall_vs_loss(work / "stall_vs_loss.png", results)
        write_json(work / "results.json", results)

    results = run_bench(cfg, args.out, force=args.force, command=command, after=extra)
    print(summary_table(results))
    print()
    print(loss_table(results))
    extra = excess_table(results)
    if extra:
        print()
        print(extra)
    print(f"\n-> {Path(args.out) / 'results.json'}, {Path(args.out) / 'stall_vs_loss.png'}")
    return 0


@contextmanager
def _model_source(args: argparse.Namespace) -> Iterator[str | None]:
    """For ``--source MODEL``: generate ``--tokens`` tokens now and give the timing trace's path while the
    block runs (its temporary folder is removed afterwards, also on an error or a signal); otherwise None."""
    if args.source == "trace" and not args.token_trace:
        raise ValueError("--source trace needs --token-trace FILE")
    if args.source not in ("smollm2-135m",):
        yield None
        return
    if args.token_trace:
        raise ValueError(f"--source {args.source} records its own timing; drop --token-trace")
    import tempfile

    from netkit.apps.tokenstream.realmodel import record_trace

    with tempfile.TemporaryDirectory(prefix="netkit-tokens-") as folder:
        path = Path(folder) / "token_source.trace"
        sched = record_trace(path, args.source, max_new_tokens=args.tokens)
        print(f"{args.source}: {len(sched)} tokens generated on this CPU, first after "
              f"{sched.offsets_us[0] / 1000:.0f} ms, {sched.duration_us / 1e6:.1f} s in all", file=sys.stderr)
        yield str(path)


def _add_record(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("record", help="generate with a local Hugging Face model and save its token timing trace")
    p.add_argument("--model", required=True, help="folder of a transformers causal LM with its tokenizer")
    p.add_argument("--prompt", default="Explain why packet loss stalls a chatbot's answer.")
    p.add_argument("--max-new-tokens", type=v.arg_int(1, 100_000), default=200)
    p.add_argument("--seed", type=v.seed_arg, default=0, help="sampling seed (default 0)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of seeded sampling")
    p.add_argument("--out", type=v.out_file, required=True, help="timing trace file to write")
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    from netkit.apps.tokenstream.hf import generate_schedule
    from netkit.apps.tokenstream.sources import write_timing_trace
    from netkit.errors import UserError

    if not (Path(args.model).is_dir() and (Path(args.model) / "config.json").is_file()):
        raise UserError(f"{args.model}: expected a folder with a transformers model (config.json and weights)",
                        source="--model")

    sched = generate_schedule(args.model, args.prompt, args.max_new_tokens, seed=args.seed,
                              sample=not args.greedy)
    write_timing_trace(args.out, sched, comment=f"netkit tokenstream record --model {args.model}")
    rate = (len(sched) - 1) / (sched.duration_us - sched.offsets_us[0]) * 1e6 if len(sched) > 1 and \
        sched.duration_us > sched.offsets_us[0] else float("nan")
    print(f"{len(sched)} tokens, first after {sched.offsets_us[0] / 1000:.1f} ms, {rate:.1f} tokens/s -> {args.out}")
    return 0


def _add_live(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("live", help="stream over real UDP sockets in namespaces behind the real-time link "
                                     "(needs root), and compare with the simulator")
    p.add_argument("--scheme", action="extend", nargs="+", dest="schemes", choices=SCHEMES,
                   help="schemes to run (default all)")
    p.add_argument("--trace", default=CONSTANT_TRACE, help=f"downlink trace (default {CONSTANT_TRACE})")
    from netkit.cli_args import add_path_arguments

    add_path_arguments(p, delay_ms=50.0, loss=0.1)
    p.add_argument("--copies", type=v.arg_int(1, 100), default=2)
    p.add_argument("--seed", type=v.seed_arg, default=0)
    p.add_argument("--netkit-stream", action="store_true",
                   help="retransmit over netkit's reliable stream on UDP instead of the kernel's TCP")
    _add_source_args(p)
    p.add_argument("--out", type=v.out_folder, help="write live-vs-sim results.json into this folder")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_live)


def _live(args: argparse.Namespace) -> int:
    from netkit.apps.tokenstream.live import compare_live_sim
    from netkit.apps.tokenstream.sources import read_timing_trace, synthetic
    from netkit.cli_args import link_plan_from_args

    path = link_plan_from_args(args, args.trace).down.spec
    sched = read_timing_trace(args.token_trace, args.seed) if args.token_trace else \
        synthetic(args.tokens, args.rate, args.jitter, seed=args.seed)
    rows = compare_live_sim(args.schemes or list(SCHEMES), sched, path, args.seed, args.copies,
                            kernel_tcp=not args.netkit_stream)
    print(f"{'scheme':<11} {'live transport':<14} {'sim stall':>9} {'live stall':>10} {'sim p95 ms':>10} "
          f"{'live p95 ms':>11}")
    for r in rows:
        print(f"{r['scheme']:<11} {r['transport']:<14} {r['sim']['stall_ratio']:>9.4f} "
              f"{r['live']['stall_ratio']:>10.4f} {r['sim']['token_delay_ms_p95']:>10.1f} "
              f"{r['live']['token_delay_ms_p95']:>11.1f}")
    if args.out:
        from netkit.apps.tokenstream.simrun import stream_experiment
        from netkit.experiment.output import run_record, staged_output, write_json, write_record
        from netkit.experiment.spec import parse_experiment
        from netkit.experiment.sweep import run_id_of

        command = "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        records = []
        for r in rows:
            for mode in ("emu", "sim"):
                params = {"apps.0.scheme": r["scheme"], "mode": mode, "seed": args.seed}
                metrics = {f"tokenstream.{k}": v for k, v in r["live" if mode == "emu" else "sim"].items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)}
                records.append(run_record(run_id_of(params), params, metrics))
        exp = parse_experiment(stream_experiment(rows[0]["scheme"], sched, path, args.seed, args.copies, 0))
        with staged_output(args.out, force=args.force) as stage:
            write_record(stage, dict(exp.data), command, records, ["apps.0.scheme", "mode"],
                         transports={r["scheme"]: r["transport"] for r in rows})
            write_json(stage / "results.json", {"runs": rows, "command": command})
    return 0


def _add_rtc(tsub: argparse._SubParsersAction) -> None:
    p = tsub.add_parser("rtc", help="WebRTC demo (aiortc): Eloquent on an unordered no-retransmit data channel, "
                                    "the baseline on a reliable ordered one, over loopback with injected loss")
    p.add_argument("--loss", type=v.probability_arg, default=0.1, help="loss injected on the server's outgoing packets")
    p.add_argument("--seed", type=v.seed_arg, default=0)
    _add_source_args(p, tokens=100)
    p.set_defaults(func=_rtc)


def _rtc(args: argparse.Namespace) -> int:
    from netkit.apps.tokenstream.rtc import run_rtc_demo
    from netkit.apps.tokenstream.sources import read_timing_trace, synthetic

    if not 0 <= args.loss < 1:
        raise ValueError(f"--loss must be a probability in [0, 1), got {args.loss}")
    sched = read_timing_trace(args.token_trace, args.seed) if args.token_trace else \
        synthetic(args.tokens, args.rate, args.jitter, seed=args.seed)
    results = run_rtc_demo(sched, loss=args.loss, seed=args.seed)
    for name, m in results.items():
        print(f"{name:<10} stall ratio {m['stall_ratio']:.4f}  TTFT {m['ttft_ms']:.1f} ms  "
              f"delay p95 {m['token_delay_ms_p95']:.1f} ms  rendered {m['rendered']}/{m['tokens']}")
    return 0

"""`netkit trace info|synth|convert`: inspect, generate and convert traces."""
from __future__ import annotations

import argparse
import json

from netkit.trace import FORMATS, TraceError, load_trace, synth, trace_stats, write_mahimahi
from netkit import validate as v


def _pairs(text: str) -> list[tuple[float, float]]:
    pairs = []
    for part in filter(None, text.split(",")):
        dur, sep, rate = part.partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((v.duration_arg(dur), v.arg_number(0, v.MAX_RATE_MBPS)(rate)))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"{part!r} is not SECONDS:MBPS with SECONDS in (0, "
                                             f"{v.shown_bound(v.MAX_DURATION_S)}] and MBPS in [0, "
                                             f"{v.shown_bound(v.MAX_RATE_MBPS)}]") from None
    if not pairs:
        raise argparse.ArgumentTypeError("expected SECONDS:MBPS[,SECONDS:MBPS...]")
    return pairs


def _floats(text: str) -> list[float]:
    rate = v.arg_number(0, v.MAX_RATE_MBPS)
    try:
        states = [rate(x) for x in text.split(",") if x.strip()]
    except argparse.ArgumentTypeError:
        states = []
    if not states:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a comma-separated list of rates in "
                                         f"[0, {v.shown_bound(v.MAX_RATE_MBPS)}] Mbit/s")
    return states


def add_trace_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit trace ...`."""
    p = sub.add_parser("trace", help="inspect, generate and convert bandwidth traces")
    tsub = p.add_subparsers(dest="trace_cmd", required=True)

    info = tsub.add_parser("info", help="duration and rates of a trace")
    info.add_argument("file", type=v.in_file)
    info.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    info.add_argument("--window-ms", type=v.arg_int(1, v.MAX_TRACE_MS), default=1000, help="window for percentile rates (default 1000)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)

    conv = tsub.add_parser("convert", help="convert a throughput log to Mahimahi format")
    conv.add_argument("file", type=v.in_file)
    conv.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    conv.add_argument("--out", type=v.out_file, required=True)
    conv.set_defaults(func=_convert)

    syn = tsub.add_parser("synth", help="write a synthetic trace in Mahimahi format")
    syn.add_argument("kind", choices=("constant", "steps", "onoff", "randomwalk", "markov"))
    syn.add_argument("--mbps", type=v.rate_arg, default=12.0, help="rate (constant, onoff) or mean (randomwalk)")
    syn.add_argument("--duration", type=v.duration_arg, default=60.0, help="seconds (constant, randomwalk, markov)")
    syn.add_argument("--steps", type=_pairs, help="steps: SECONDS:MBPS,SECONDS:MBPS,...")
    syn.add_argument("--on", type=v.duration_arg, default=2.0, help="onoff: seconds on")
    syn.add_argument("--off", type=v.arg_number(0, v.MAX_DURATION_S), default=1.0, help="onoff: seconds off")
    syn.add_argument("--cycles", type=v.arg_int(1, 100_000), default=10, help="onoff: number of cycles")
    syn.add_argument("--sigma", type=v.arg_number(0, 10), default=0.2, help="randomwalk: step size (log scale)")
    syn.add_argument("--states", type=_floats, default=[1.0, 3.0, 6.0, 12.0, 24.0], help="markov: rates in Mbit/s")
    syn.add_argument("--stay", type=v.arg_number(0, 1, expected='a probability in [0, 1]'), default=0.9, help="markov: probability of staying per step")
    syn.add_argument("--seed", type=v.seed_arg, default=0)
    syn.add_argument("--out", type=v.out_file, required=True)
    syn.set_defaults(func=_synth)


def _info(args: argparse.Namespace) -> int:
    from netkit.errors import UserError
    from netkit.trace.stats import check_window

    trace = load_trace(args.file, args.format)
    try:
        check_window(trace, args.window_ms)
    except TraceError as exc:
        raise UserError(str(exc), source="--window-ms") from None
    st = trace_stats(trace, args.window_ms)
    if args.json:
        print(json.dumps(st.as_dict(), indent=2))
    else:
        print(f"{st.source}: {st.opportunities} opportunities over {st.duration_s:.3f} s; "
              f"mean {st.mean_mbps:.3f} Mbit/s; per {st.window_ms} ms: p5 {st.p5_mbps:.3f}, "
              f"p50 {st.p50_mbps:.3f}, p95 {st.p95_mbps:.3f}, min {st.min_mbps:.3f}, max {st.max_mbps:.3f} Mbit/s")
    return 0


def _convert(args: argparse.Namespace) -> int:
    trace = load_trace(args.file, args.format)
    write_mahimahi(trace, args.out)
    print(f"wrote {args.out}: {len(trace)} opportunities, {trace.period_ms / 1000:.3f} s, mean {trace.mean_mbps:.3f} Mbit/s")
    return 0


def _synth(args: argparse.Namespace) -> int:
    if args.kind == "constant":
        trace = synth.constant(args.mbps, args.duration)
    elif args.kind == "steps":
        if not args.steps:
            raise TraceError("trace synth steps: --steps SECONDS:MBPS,... is required")
        trace = synth.steps(args.steps)
    elif args.kind == "onoff":
        trace = synth.on_off(args.mbps, args.on, args.off, args.cycles)
    elif args.kind == "randomwalk":
        trace = synth.random_walk(args.mbps, args.duration, sigma=args.sigma, seed=args.seed)
    else:
        trace = synth.markov(args.states, args.stay, args.duration, seed=args.seed)
    write_mahimahi(trace, args.out)
    print(f"wrote {args.out}: {len(trace)} opportunities, {trace.period_ms / 1000:.3f} s, mean {trace.mean_mbps:.3f} Mbit/s")
    return 0

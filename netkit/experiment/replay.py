"""`netkit replay`: flows over a trace-driven path, a front end that builds an experiment and runs it.

Each direction is built like nested Mahimahi shells, outermost first: `mm-delay`
(Delay), `mm-loss` (Bernoulli or Gilbert-Elliott loss), then `mm-link` (TraceLink
with its queue). Without `--uplink` the reverse path has delay only. The flags
become a `path` experiment (`replay_experiment`), written with the record of
every command: config.json, runs.jsonl, summary.json, downlink.log/uplink.log
and plots. `--mode emu` runs the same experiment over the live link.
"""
from __future__ import annotations

import argparse

from netkit.errors import UserError
from netkit import validate as v

WORKLOADS = "bulk, cubic, reno, prague, bulk:CC or cbr:MBPS"
REPLAY_KEYS = {"duration_s": "--duration", "warmup_s": "--warmup", "apps": "--app", "mode": "--mode"}


def app_entry(spec: str) -> dict:
    """An `[[apps]]` entry from an `--app` value: `bulk` (Cubic), `cubic`, `reno`, `prague`, `bulk:CC`, `cbr:MBPS`."""
    name, _, arg = spec.strip().lower().partition(":")
    if name == "bulk":
        name = arg or "cubic"
        if name not in ("cubic", "reno", "prague"):
            raise UserError(f"unknown congestion control {name!r}; expected cubic, reno, prague", source=f"--app {spec!r}")
    if name in ("cubic", "reno", "prague"):
        return {"module": "bulk", "cc": name, "name": name}
    if name == "cbr":
        try:
            mbps = float(arg)
        except ValueError:
            raise UserError("expected cbr:MBPS with a number, e.g. cbr:6", source=f"--app {spec!r}") from None
        return {"module": "cbr", "rate_mbps": mbps, "name": f"cbr:{mbps:g}"}
    raise UserError(f"unknown workload; expected {WORKLOADS}", source=f"--app {spec!r}")


def replay_experiment(args: argparse.Namespace):
    """The validated experiment the replay flags describe (errors name the flag)."""
    from netkit.cli_args import links_from_args, options_named
    from netkit.experiment.spec import parse_experiment

    apps = [app_entry(s) for s in (args.apps or ["bulk"])]
    seen: dict[str, int] = {}
    for a in apps:
        seen[a["name"]] = seen.get(a["name"], 0) + 1
        if seen[a["name"]] > 1:
            a["name"] = f"{a['name']}-{seen[a['name']]}"
    data = {"name": "replay", "duration_s": args.duration, "warmup_s": args.warmup, "seed": args.seed,
            "mode": args.mode, "topology": {"kind": "path"}, "links": links_from_args(args, args.trace), "apps": apps}
    with options_named(REPLAY_KEYS):
        return parse_experiment(data, "")


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit replay`."""
    from netkit.cli_args import add_path_arguments

    p = sub.add_parser("replay", help="replay flows over a trace-driven path (simulator, or live with --mode emu)")
    p.add_argument("--trace", required=True, help="downlink trace (Mahimahi, Pensieve, Norway/Belgium, CSV) "
                                                  "or constant:MBPS")
    add_path_arguments(p)
    p.add_argument("--app", action="append", dest="apps", help=f"workload, repeatable: {WORKLOADS} (default bulk)")
    p.add_argument("--duration", type=v.duration_arg, default=30.0, help="seconds (default 30)")
    p.add_argument("--warmup", type=v.arg_number(0, v.MAX_DURATION_S), default=0.0, help="seconds excluded from the summary (default 0)")
    p.add_argument("--seed", type=v.seed_arg, default=0)
    p.add_argument("--mode", choices=("sim", "emu"), default="sim",
                   help="sim: the simulator (default); emu: live link between namespaces in real time (root)")
    p.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=_replay)


def summary_line(metrics: dict) -> str:
    """One line: capacity, throughput, utilisation, delay percentiles and loss."""
    return (
        f"capacity {metrics['capacity_mbps']:.2f} Mbit/s, throughput {metrics['throughput_mbps']:.2f} Mbit/s "
        f"({metrics['utilization'] * 100:.1f}% utilisation), delay p50/p95/p99 "
        f"{metrics['delay_ms_p50']:.1f}/{metrics['delay_ms_p95']:.1f}/{metrics['delay_ms_p99']:.1f} ms, "
        f"loss {metrics['loss_rate'] * 100:.2f}%"
    )


def _replay(args: argparse.Namespace) -> int:
    from netkit.experiment.cli import _progress_bar, command_line
    from netkit.experiment.single import run_to_dir

    from netkit.experiment.output import check_output

    exp = replay_experiment(args)
    check_output(args.out, args.force)
    with _progress_bar(exp.duration_s, "replay") as bar:
        result = run_to_dir(exp, args.out, force=args.force, command=command_line(),
                            progress=lambda t: bar.update(max(0.0, min(t, exp.duration_s)) - bar.n))
    print(f"{summary_line(result.metrics)} -> {args.out}/summary.json")
    return 0


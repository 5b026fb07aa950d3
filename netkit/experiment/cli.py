"""`netkit run` and `netkit sweep`: experiment files from the command line (and the `replay`/`l4s` front ends)."""
from __future__ import annotations

import argparse
import shlex
import sys
from netkit import validate as v


def command_line() -> str:
    """This process's command line, as recorded in config.json."""
    return "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _overrides(args: argparse.Namespace) -> list[tuple[str, object]]:
    from netkit.errors import UserError
    from netkit.experiment.spec import parse_value

    pairs: list[tuple[str, object]] = []
    for text in args.set or []:
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            raise UserError(f"expected KEY=VALUE, got {text!r}", source="--set")
        pairs.append((key.strip(), parse_value(value.strip())))
    if args.mode:
        pairs.append(("mode", args.mode))
    if getattr(args, "seed", None) is not None:
        pairs.append(("seed", args.seed))
    return pairs


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=v.in_file, help="experiment file (TOML)")
    p.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    p.add_argument("--mode", choices=("sim", "emu"), help="override the file's mode")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting by dotted key, e.g. links.down.loss=0.01 (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")


def add_experiment_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `netkit run`, `netkit sweep`, `netkit replay` and `netkit l4s`."""
    p = sub.add_parser("run", help="run one experiment file (sim or emu) and write its record",
                       description="Run an experiment file; writes config.json, runs.jsonl, summary.json, "
                                   "Mahimahi link logs and plots into --out.")
    _add_common(p)
    p.add_argument("--seed", type=v.seed_arg, help="override the file's seed")
    p.set_defaults(func=_run)

    p = sub.add_parser("sweep", help="run an experiment over a grid of settings and seeds (local pool or Ray)")
    _add_common(p)
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                   help="sweep a dotted key over values (repeatable: the cross product); "
                        "KEY=[V1, V2] as a TOML array for values with commas")
    p.add_argument("--seeds", type=v.arg_int(1, 10_000), help="seeds per point: the file's seed, seed+1, ... (default 1)")
    p.add_argument("--jobs", type=v.jobs_arg, default=1, help="parallel runs (default 1)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool (default); ray: Ray tasks (pip install 'netkit[cluster]')")
    p.add_argument("--ray-address", help="connect to this Ray cluster (default: start a local one)")
    p.add_argument("--resume", action="store_true", help="keep the runs already recorded; run only what is missing")
    p.add_argument("--plot-metric", action="append", help="metric(s) for sweep.png (default: a few headline ones)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)

    from netkit.experiment.replay import add_replay_parser
    from netkit.experiment.l4s import add_l4s_parser

    add_replay_parser(sub)
    add_l4s_parser(sub)


def _progress_bar(total_s: float, desc: str):
    from tqdm import tqdm

    return tqdm(total=round(total_s, 3), unit="s", desc=desc, file=sys.stderr, leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]")


def _run(args: argparse.Namespace) -> int:
    from netkit.experiment.single import run_to_dir
    from netkit.experiment.spec import load_experiment

    from netkit.experiment.output import check_output

    exp = load_experiment(args.file, _overrides(args))
    check_output(args.out, args.force)
    with _progress_bar(exp.duration_s, f"run {exp.name} ({exp.mode})") as bar:
        result = run_to_dir(exp, args.out, force=args.force, command=command_line(),
                            progress=lambda t: bar.update(max(0.0, min(t, exp.duration_s)) - bar.n))
    print(headline(result.metrics) + f" -> {args.out}/")
    return 0


def headline(metrics: dict) -> str:
    """One line of the network's metrics."""
    parts = [f"throughput {metrics.get('throughput_mbps', float('nan')):.2f} Mbit/s"]
    if "capacity_mbps" in metrics:
        parts.append(f"capacity {metrics['capacity_mbps']:.2f} Mbit/s ({metrics['utilization'] * 100:.1f}% used)")
    parts.append(f"delay p50/p95 {metrics.get('delay_ms_p50', float('nan')):.1f}/"
                 f"{metrics.get('delay_ms_p95', float('nan')):.1f} ms, loss {metrics.get('loss_rate', 0) * 100:.2f}%")
    return ", ".join(parts)


DEFAULT_PLOT_METRICS = ("throughput_mbps", "delay_ms_p95", "loss_rate")


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netkit.errors import UserError
    from netkit.experiment.plots import plot_sweep
    from netkit.experiment.spec import read_toml, set_key
    from netkit.experiment.sweep import Sweep, parse_grid, run_sweep

    data = read_toml(args.file)
    for key, value in _overrides(args):
        try:
            set_key(data, key, value)
        except UserError as exc:
            raise exc.within(args.file) from None
    axes = []
    for text in args.grid or []:
        key, values = parse_grid(text)
        axes.append([{key: val} for val in values])
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"expected an integer >= 1, got {args.seeds}", source="--seeds")
    base_seed = data.get("seed", 0) if isinstance(data.get("seed", 0), int) else 0
    seeds = [base_seed + k for k in range(args.seeds)] if args.seeds else None
    sweep = Sweep(data, args.file, str(Path(args.file).resolve().parent), axes, seeds)
    wanted = args.plot_metric or None

    def plots(work: Path, summary: dict) -> None:
        metrics = wanted or _plot_metrics(summary)
        plot_sweep(work / "sweep.png", summary, metrics)

    summary = run_sweep(sweep, args.out, jobs=args.jobs, engine=args.engine, ray_address=args.ray_address,
                        resume=args.resume, force=args.force, command=command_line(),
                        progress=not args.no_progress, after=plots)
    print(f"{summary['runs']} runs ({summary['failed']} failed) over {len(summary['points'])} grid points "
          f"-> {args.out}/summary.json")
    return 1 if summary["failed"] == summary["runs"] and summary["runs"] else 0


def _plot_metrics(summary: dict) -> list[str]:
    names: list[str] = []
    for p in summary["points"]:
        for m in p["metrics"]:
            if m not in names:
                names.append(m)
    chosen = [m for m in DEFAULT_PLOT_METRICS if m in names]
    app_metrics = [m for m in names if "." in m and not m.startswith("queue.")]
    return (chosen + app_metrics[:1])[:4] or names[:3]

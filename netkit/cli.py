"""`netkit ...`: the command-line entry point."""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from netkit.cli_args import add_path_arguments
from netkit.cli_trace import add_trace_parser

# Subcommands contributed by other packages: (module, function that registers the parser).
PLUGIN_PARSERS = [
    ("netkit.emu.cli", "add_emu_parsers"),
    ("netkit.apps.kvstream.cli", "add_kvstream_parser"),
    ("netkit.apps.tokenstream.cli", "add_tokenstream_parser"),
    ("netkit.apps.grace.cli", "add_grace_parser"),
]


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit replay`."""
    p = sub.add_parser("replay", help="replay flows over a trace-driven path in the simulator")
    p.add_argument("--trace", required=True, help="downlink trace (Mahimahi, Pensieve, Norway/Belgium, CSV)")
    add_path_arguments(p)
    p.add_argument("--app", action="append", dest="apps",
                   help="workload, repeatable: bulk, cubic, reno, prague, cbr:MBPS (default bulk)")
    p.add_argument("--duration", type=float, default=30.0, help="simulated seconds (default 30)")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds excluded from the summary (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=("sim", "emu"), default="sim",
                   help="sim: the simulator (default); emu: live link between namespaces in real time (root)")
    p.add_argument("--out", required=True, help="results folder (created whole or not at all)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from netkit.experiment.replay import ReplayConfig, replay_to_dir, summary_line

    cfg = ReplayConfig(
        trace=args.trace, uplink=args.uplink, delay_ms=args.delay, loss=args.loss, loss_model=args.loss_model,
        loss_burst=args.loss_burst, queue=args.queue, uplink_queue=args.uplink_queue,
        apps=args.apps or ["bulk"], duration_s=args.duration, warmup_s=args.warmup, seed=args.seed,
        mode=args.mode,
    )
    cfg.validate()
    command = "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with tqdm(total=round(cfg.duration_s, 3), unit="sim s", desc="replay", file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} sim s [{elapsed}<{remaining}]") as bar:
        def progress(t_s: float) -> None:
            bar.update(min(t_s, cfg.duration_s) - bar.n)

        if cfg.mode == "emu":
            from netkit.emu.replay import replay_emu_to_dir as to_dir
        else:
            to_dir = replay_to_dir
        result = to_dir(cfg, args.out, force=args.force, command=command, progress=progress)
    print(f"{summary_line(result.summary)} -> {args.out}/summary.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available subcommand."""
    parser = argparse.ArgumentParser(prog="netkit", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_replay_parser(sub)
    add_trace_parser(sub)
    for module, func in PLUGIN_PARSERS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that part of netkit is not built yet
            raise
        getattr(mod, func)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; expected errors print one clear line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("netkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"netkit {args.cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

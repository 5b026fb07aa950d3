"""`netkit ...`: the command-line entry point."""
from __future__ import annotations

import argparse
import importlib
import sys

from netkit.cli_trace import add_trace_parser
from netkit.validate import OneLineParser

# Subcommands contributed by other packages: (module, function that registers the parser).
PLUGIN_PARSERS = [
    ("netkit.experiment.cli", "add_experiment_parsers"),
    ("netkit.emu.cli", "add_emu_parsers"),
    ("netkit.apps.kvstream.cli", "add_kvstream_parser"),
    ("netkit.apps.tokenstream.cli", "add_tokenstream_parser"),
    ("netkit.p4.cli", "add_p4_parser"),
    ("netkit.apps.grace.cli", "add_grace_parser"),
    ("netkit.apps.swiftqueue.cli", "add_swiftqueue_parser"),
    ("netkit.apps.sfu.cli", "add_sfu_parser"),
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available subcommand."""
    parser = OneLineParser(prog="netkit", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (one line printed, 2) or --help (0): a status, like a run's
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("netkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"netkit {args.cmd}: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
        return 2


if __name__ == "__main__":
    sys.exit(main())

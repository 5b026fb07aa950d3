"""`netkit ...`: the command-line entry point."""
from __future__ import annotations

import argparse
import importlib
import sys

from netkit import interrupts  # started as the CLI, netkit/__init__ has installed its handler already

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
    from netkit.cli_trace import add_trace_parser  # here, not at the top: main() handles signals first
    from netkit.validate import OneLineParser

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
    """Parse arguments and run; expected errors print one clear line and exit 2; SIGINT/TERM/HUP exit 128+N."""
    args = None
    with interrupts.handling():
        try:
            interrupts.check()  # a signal that came while Python started
            with interrupts.deferred():  # an exception raised inside an extension's import comes out mangled
                parser = build_parser()
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:  # a bad option (one line printed, 2) or --help (0): a status, like a run's
                return exc.code if isinstance(exc.code, int) else 2
            try:
                status = args.func(args) or 0
            finally:
                interrupts.finish()  # cleanup runs to its end; later signals are only recorded
        except KeyboardInterrupt as exc:  # netkit.interrupts.Interrupted for SIGTERM/SIGHUP too
            status = getattr(exc, "status", 130)
        except (ValueError, OSError) as exc:
            print(f"netkit {args.cmd if args else ''}: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
            status = 2
        except Exception:
            if interrupts.received() is None:
                raise
            status = 1  # C code turned the interruption into another error; the signal's status follows
        if interrupts.received() is not None:
            print(f"netkit: {interrupts.Interrupted(interrupts.received())}", file=sys.stderr)
            status = interrupts.status()
    return status


if __name__ == "__main__":
    sys.exit(main())

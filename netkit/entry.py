"""How every netkit entry point runs a command: one line and exit 2 for a user's mistake, 128+N for a signal."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from netkit import interrupts


def run_command(build: Callable[[], argparse.ArgumentParser], argv: list[str] | None,
                prog: Callable[[argparse.Namespace | None], str]) -> int:
    """Build the parser, parse `argv` and run `args.func(args)` as every netkit entry point does: a user's
    mistake is one line naming `prog(args)` and exit 2; SIGINT/TERM/HUP end it with 128+N after cleanup."""
    args = None
    with interrupts.handling():
        try:
            interrupts.check()  # a signal that came while Python started
            with interrupts.deferred():  # an exception raised inside an extension's import comes out mangled
                parser = build()
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
            print(f"{prog(args)}: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
            status = 2
        except Exception:
            if interrupts.received() is None:
                raise
            status = 1  # C code turned the interruption into another error; the signal's status follows
        if interrupts.received() is not None:
            print(f"netkit: {interrupts.Interrupted(interrupts.received())}", file=sys.stderr)
            status = interrupts.status()
    return status

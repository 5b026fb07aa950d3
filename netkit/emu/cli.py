"""`netkit shell`, `netkit clean` and `netkit link`: the live-emulation subcommands."""
from __future__ import annotations

import argparse
import shlex
import sys

from netkit.cli_args import add_path_arguments
from netkit import validate as v


def _add_link_options(p: argparse.ArgumentParser, trace_required: bool = False) -> None:
    p.add_argument("--trace", required=trace_required,
                   help="downlink trace (into the shell); without it the downlink has no rate limit")
    add_path_arguments(p)
    p.add_argument("--seed", type=v.seed_arg, default=0, help="seed of the loss models")
    p.add_argument("--log", type=v.out_folder, metavar="DIR", help="write Mahimahi-format downlink.log / uplink.log into DIR")
    p.add_argument("--stats", type=v.out_file, metavar="FILE", help="write the link's counters and timing errors as JSON")
    p.add_argument("--no-realtime", action="store_true",
                   help="do not ask for SCHED_FIFO scheduling for the link process")


def _spec(args: argparse.Namespace):
    """The validated link plan, after the output paths are checked (all before any namespace or process)."""
    from netkit.cli_args import link_plan_from_args

    _check_outputs(args)
    command = "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return link_plan_from_args(args, args.trace, seed=args.seed, log_dir=args.log, command=command)


def _check_outputs(args: argparse.Namespace) -> None:
    """`--log DIR` and `--stats FILE` are usable, so a run is never lost to a bad path found only at its end."""
    from netkit.errors import UserError
    from netkit.files import check_writable

    if args.log is not None:
        if args.trace is None and args.uplink is None:
            raise UserError("logs only rate-limited directions; give --trace and/or --uplink", source="--log")
        check_writable(args.log, "--log", folder=True)
    if args.stats is not None:
        check_writable(args.stats, "--stats", folder=False)


def _shell(args: argparse.Namespace) -> int:
    from netkit.emu.shell import run_shell

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return run_shell(_spec(args), command, realtime=not args.no_realtime, stats_path=args.stats)


def _clean(args: argparse.Namespace) -> int:
    from netkit.emu.clean import clean

    removed = clean(everything=args.all)
    if not removed:
        print("nothing to clean")
    return 0


def _link(args: argparse.Namespace) -> int:
    from netkit.emu.netns import ns_path
    from netkit.emu.standalone import run_link
    import os

    from netkit.errors import UserError

    spec = _spec(args)
    for option, ns in (("--outer", args.outer), ("--inner", args.inner)):
        if not ns.strip():
            raise UserError("expected a namespace name or a /proc/PID/ns/net path, got an empty string", source=option)
    outer, inner = ns_path(args.outer), ns_path(args.inner)
    same = f"{args.inner!r} is also --outer; the link joins two different namespaces"
    if outer == inner:
        raise UserError(same, source="--inner")
    for option, ns, path in (("--outer", args.outer, outer), ("--inner", args.inner, inner)):
        if not os.path.exists(path):
            raise UserError(f"no such network namespace {ns!r} ({path})", source=option)
    if os.path.samefile(outer, inner):  # one namespace by two names (a name and its /proc path)
        raise UserError(same, source="--inner")
    return run_link(spec, args.outer, args.inner, realtime=not args.no_realtime, stats_path=args.stats)


def add_emu_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `netkit shell`, `netkit clean` and `netkit link`."""
    p = sub.add_parser("shell", help="run a command in a new namespace behind a live trace-driven link",
                       description="Run CMD (default: $SHELL) in a fresh network namespace behind a live link, "
                                   "like mm-link. CMD sees NETKIT_PEER, the address of the far side.")
    _add_link_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="command to run")
    p.set_defaults(func=_shell)

    p = sub.add_parser("clean", help="remove namespaces, devices and processes that killed netkit runs left")
    p.add_argument("--all", action="store_true", help="also remove resources of runs that are still alive")
    p.set_defaults(func=_clean)

    p = sub.add_parser("link", help="run a live link between two existing network namespaces until interrupted",
                       description="Join two existing namespaces with a live link (TUN devices and the link "
                                   "process) and forward until SIGINT/SIGTERM. Prints the addresses.")
    p.add_argument("--outer", required=True, help="outer namespace: a name in /run/netns or a /proc/PID/ns/net path")
    p.add_argument("--inner", required=True, help="inner namespace (gets a default route through the link)")
    _add_link_options(p)
    p.set_defaults(func=_link)

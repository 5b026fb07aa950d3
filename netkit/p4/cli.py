"""`netkit p4 targets|compile|serve|load`: P4 programs on bmv2, Tofino or the software target."""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from netkit import validate as v

from netkit import interrupts

TARGET_NAMES = ("software", "bmv2", "tofino")


def add_p4_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit p4 ...`."""
    p = sub.add_parser("p4", help="P4 targets: compile, serve and load the SFU data plane over P4Runtime")
    p4 = p.add_subparsers(dest="p4_cmd", required=True)

    t = p4.add_parser("targets", help="which targets are usable here, and why not")
    t.set_defaults(func=_targets)

    c = p4.add_parser("compile", help="compile a program (a name under p4/, e.g. sfu, or a .p4 file)")
    c.add_argument("program")
    c.add_argument("--target", choices=TARGET_NAMES, required=True)
    c.add_argument("--out", type=v.out_folder, required=True, help="output folder (created whole or not at all)")
    c.add_argument("--force", action="store_true", help="replace an existing --out folder")
    c.set_defaults(func=_compile)

    s = p4.add_parser("serve", help="run a switch that P4Runtime controllers (p4runtime-shell) connect to")
    s.add_argument("--target", choices=("software", "bmv2", "tofino"), default="software")
    s.add_argument("--program", default="sfu", help="program the software target runs (default sfu)")
    s.add_argument("--grpc", type=_address, default="127.0.0.1:9559", help="P4Runtime address HOST:PORT or unix:PATH "
                   "(default 127.0.0.1:9559; port 0 picks a free one)")
    s.add_argument("--port", action="append", default=[], metavar="N@IFACE",
                   help="switch port N on interface IFACE (N@NETNS:IFACE inside a namespace); repeatable")
    s.add_argument("--device-id", type=v.arg_int(0, 2**64 - 1), default=1)
    s.add_argument("--no-realtime", action="store_true",
                   help="software target: do not ask for SCHED_FIFO for the forwarding thread")
    s.add_argument("--load", action="store_true",
                   help="install the program's pipeline at start (otherwise the first controller sets it)")
    s.set_defaults(func=_serve)

    ld = p4.add_parser("load", help="set the pipeline of a running switch and write entries from a JSON file")
    ld.add_argument("--grpc", type=_address, required=True, help="the switch's P4Runtime address")
    ld.add_argument("--program", default="sfu")
    ld.add_argument("--target", choices=TARGET_NAMES, default="software",
                    help="which build of the program to load (default software)")
    ld.add_argument("--p4info", type=v.in_file, help="P4Info text file (default: the program's build for --target)")
    ld.add_argument("--config", type=v.in_file, help="device config file (bmv2 JSON, Tofino packed binary, software JSON)")
    ld.add_argument("--entries", type=v.in_file, help="JSON list of table entries and multicast groups to insert")
    ld.add_argument("--device-id", type=v.arg_int(0, 2**64 - 1), default=1)
    ld.add_argument("--election-id", type=_election_id, default="0,1", help="HIGH,LOW (default 0,1)")
    ld.set_defaults(func=_load)


def _check_program(target: str, program: str, option: str) -> None:
    """An empty program, or one the software target does not implement, named as `option` before anything starts."""
    from netkit.errors import UserError

    if not program.strip():
        raise UserError("expected a program name (e.g. sfu) or a .p4 file, got an empty string", source=option)
    if target == "software":
        from netkit.p4.software.device import PROGRAMS
        from netkit.p4.target import program_name

        if program_name(program) not in PROGRAMS:
            raise UserError(f"target software implements only {', '.join(PROGRAMS)}, not {program!r}", source=option)


def _address(text: str) -> str:
    """`HOST:PORT` (port 0..65535) or `unix:PATH`, checked when the command line is read."""
    if text.startswith("unix:"):
        if not text[5:].strip():
            raise argparse.ArgumentTypeError("expected unix:PATH with a path")
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host.strip() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port in [0, 65535] or unix:PATH, got {text!r}")
    return text


def _election_id(text: str) -> tuple[int, int]:
    """`HIGH,LOW`: two integers in [0, 2^64 - 1] (P4Runtime's 128-bit election id)."""
    part = v.arg_int(0, 2**64 - 1)
    pieces = text.split(",")
    if len(pieces) != 2:
        raise argparse.ArgumentTypeError(f"expected HIGH,LOW (two integers), got {text!r}")
    return part(pieces[0]), part(pieces[1])


def _targets(args: argparse.Namespace) -> int:
    from netkit.p4.target import get_target

    for name in TARGET_NAMES:
        a = get_target(name).available()
        print(f"{name:9s} {'usable' if a.usable else 'missing':8s} {a.reason}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    from netkit.p4.target import get_target

    _check_program(args.target, args.program, "program")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"--out {out} exists (use --force to replace it)")
    target = get_target(args.target)
    target.require()
    out.parent.mkdir(parents=True, exist_ok=True)
    from netkit.files import staging_dir

    tmp = staging_dir(out.parent, f".{out.name}.")
    try:
        compiled = target.compile(args.program, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{compiled.program} for {args.target}: {out / compiled.p4info.name}, {out / compiled.device_config.name}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from netkit.p4.target import PortSpec, get_target

    _check_program(args.target, args.program, "--program")
    ports = [PortSpec.parse(p) for p in args.port]
    target = get_target(args.target)
    target.require()
    if args.target == "software":
        target.program = args.program
        target.realtime = not args.no_realtime
    try:
        target.start(args.grpc, ports, device_id=args.device_id)
        if args.load:
            with tempfile.TemporaryDirectory() as tmp:
                target.set_pipeline(target.compile(args.program, tmp))
        port_text = ", ".join(map(str, ports)) or "no ports"
        print(f"serving P4Runtime on {target.address} (target {args.target}, device {args.device_id}, {port_text}"
              f"{', pipeline loaded' if args.load else ''})", flush=True)
        while True:  # until SIGINT/SIGTERM/SIGHUP (netkit.interrupts: exit status 128+N)
            interrupts.check()
            time.sleep(0.5)
    finally:
        with interrupts.deferred():
            target.stop()


def _load(args: argparse.Namespace) -> int:
    from netkit.p4.client import P4RuntimeClient
    from netkit.p4.target import get_target

    high, low = args.election_id
    if not args.p4info:
        _check_program(args.target, args.program, "--program")
    with tempfile.TemporaryDirectory() as tmp:
        if args.p4info:
            p4info, config = Path(args.p4info), Path(args.config) if args.config else None
        else:
            target = get_target(args.target)
            target.require()
            compiled = target.compile(args.program, tmp)
            p4info, config = compiled.p4info, Path(args.config) if args.config else compiled.device_config
        entries = _read_entries(args.entries) if args.entries else []
        with P4RuntimeClient(args.grpc, device_id=args.device_id, election_id=(high, low)) as client:
            client.set_pipeline(p4info, config.read_bytes() if config else b"")
            for i, e in enumerate(entries):
                try:
                    if "multicast_group" in e:
                        client.insert(client.multicast_group(int(e["multicast_group"]),
                                                             [tuple(r) for r in e.get("replicas", [])]))
                    else:
                        client.insert(client.table_entry(e["table"], e.get("match", {}), e["action"],
                                                         e.get("params", {}), int(e.get("priority", 0))))
                except (KeyError, TypeError) as exc:
                    raise ValueError(f"{args.entries}: entry {i}: {exc}") from None
    print(f"loaded {p4info.name} and {len(entries)} entries into {args.grpc}")
    return 0


def _read_entries(path: str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--entries {path}: line {exc.lineno}: not JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--entries {path}: cannot read it as JSON text ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ValueError(f"--entries {path}: expected a JSON list of objects (table entries or multicast groups)")
    return data

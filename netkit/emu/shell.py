"""`netkit shell`: run a command in a fresh namespace behind a live link, like Mahimahi's mm-link/mm-delay.

The command sees `NETKIT_PEER` (the far side's address, in the namespace the
shell was started from), `NETKIT_ADDR` (its own address) and `NETKIT_NETNS`.
Started inside another `netkit shell`, the new shell's outside is the outer
shell's namespace, and its subnet is routed outwards through every enclosing
link, so traffic crosses all of them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from netkit.emu import netns
from netkit.emu.errors import EmuError, require_root, require_tun
from netkit.net.direction import LinkPlan
from netkit.emu.names import new_name
from netkit.emu.resources import registry
from netkit.emu.tunlink import ROUTES_ENV, TunLink, parse_route_chain

TERM_GRACE_S = 3.0


def default_command() -> list[str]:
    """The user's shell, as mm-link starts it when no command is given."""
    return [os.environ.get("SHELL") or "/bin/sh"]


def run_shell(spec: LinkPlan, command: list[str], realtime: bool = True, stats_path: str | None = None) -> int:
    """Run `command` behind a link built from `spec`; return its exit status (128+N if signal N ended it)."""
    require_root("netkit shell")
    require_tun()
    command = command or default_command()
    reg = registry()
    name = new_name("s")
    netns.create(name)
    ns_token = reg.add(f"network namespace {name}", lambda: netns.remove(name))
    link = TunLink(spec, name, realtime=realtime, route_chain=parse_route_chain(os.environ.get(ROUTES_ENV)), reg=reg)
    try:
        link.start()
        env = dict(os.environ, NETKIT_PEER=link.outer_addr, NETKIT_ADDR=link.inner_addr, NETKIT_NETNS=name)
        env[ROUTES_ENV] = link.child_route_chain()
        with netns.enter(name):
            try:
                child = subprocess.Popen(command, env=env)
            except FileNotFoundError:
                raise EmuError(f"command not found: {command[0]}") from None
        status = _wait_forwarding_signals(child, link)
    finally:
        stats = link.close()
        reg.release(ns_token)
        if stats_path and stats is not None:
            Path(stats_path).write_text(json.dumps(stats, indent=1))
    return status


def _wait_forwarding_signals(child: subprocess.Popen, link: TunLink) -> int:
    """Wait for `child`, passing SIGINT/SIGTERM/SIGHUP on; SIGKILL it if a TERM/HUP is ignored for a while.

    SIGINT is only passed on: an interactive shell ignores it, and the session goes on, as it should.
    If the link process dies first (a device was deleted under it), say so once.
    """
    received: list[int] = []

    def forward(signum: int, frame) -> None:
        received.append(signum)
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in sigs}
    try:
        kill_at = None
        warned = False
        while True:
            try:
                status = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if not warned and not link.process.alive():
                warned = True
                stats = link.process.stop() or {}
                why = "; ".join(d["error"] for d in (stats.get("downlink", {}), stats.get("uplink", {}))
                                if d.get("error")) or f"exit status {link.process.proc.returncode}"
                print(f"netkit shell: the link process stopped ({why}); the namespace has no path out",
                      file=sys.stderr)
            if kill_at is None and any(s != signal.SIGINT for s in received):
                kill_at = time.monotonic() + TERM_GRACE_S
            if kill_at is not None and time.monotonic() >= kill_at:
                child.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        return 128 + received[0]
    return 128 - status if status < 0 else status

"""Helpers for tests, benchmarks and examples of live emulation: skip reasons, scratch namespaces, processes in them."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from netkit import interrupts
from netkit.emu import netns
from netkit.emu.addressing import LEASE_DIR
from netkit.emu.names import RUNS_DIR, new_name, run_prefix
from netkit.emu.resources import registry


def skip_reason(*tools: str, mininet: bool = False) -> str | None:
    """Why live tests cannot run here (not root, no TUN, a missing program or Mininet), or None."""
    if os.geteuid() != 0:
        return "live emulation needs root (network namespaces and TUN devices)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun (TUN module not loaded)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {tool})"
    if mininet:
        try:
            import mininet as _  # noqa: F401
        except ImportError:
            return "Mininet is not importable (apt-get install mininet; python scripts/link_mininet.py)"
    return None


@contextmanager
def scratch_namespace(tag: str = "t") -> Iterator[str]:
    """A fresh named namespace for the block (removed afterwards, with whatever runs in it)."""
    name = new_name(tag)
    with interrupts.deferred():
        netns.create(name)
        token = registry().add(f"network namespace {name}", lambda: netns.remove(name))
    try:
        yield name
    finally:
        registry().release(token)


def popen_in(ns: str | None, args: list[str], **kwargs) -> subprocess.Popen:
    """Start a process inside namespace `ns`."""
    with netns.enter(ns):
        return subprocess.Popen(args, **kwargs)


def run_in(ns: str | None, args: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run a process inside namespace `ns` to completion."""
    with netns.enter(ns):
        return subprocess.run(args, timeout=timeout, **kwargs)


def netkit_command(*args: str) -> list[str]:
    """`netkit ARGS` as this interpreter runs it."""
    return [sys.executable, "-m", "netkit.cli", *args]


def processes_with(marker: str) -> list[int]:
    """Processes with `marker` as one of their arguments, other than this one and netkit commands (whose own
    command line names what they run). Zombies count: a child its run did not reap is still left behind."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in argv and b"netkit.cli" not in argv:
                out.append(int(entry))
    return out


def link_processes(pid: int) -> list[int]:
    """The link processes of run `pid` (by their `--run-id nk-PID`), zombies included."""
    out = []
    for p in processes_with(f"nk-{pid}"):
        try:
            if b"netkit.emu.linkproc" in Path(f"/proc/{p}/cmdline").read_bytes():
                out.append(p)
        except OSError:
            pass
    return out


def leftovers(pid: int, outer: str | None, marker: str | None = None, out: Path | None = None) -> list[str]:
    """Everything run `pid` left: namespaces, link processes, interfaces in namespace `outer`, address
    leases, its run record, processes with argument `marker`, a partial folder for output folder `out`.
    Only names that carry the run's PID are looked at (others may run emulations at the same time)."""
    prefix = run_prefix(pid)
    found = [f"netns {n}" for n in netns.list_names() if n.startswith(prefix)]
    found += [f"link process {p}" for p in link_processes(pid)]
    with netns.enter(outer):
        found += [f"interface {name}" for _, name in socket.if_nameindex() if name.startswith(prefix)]
    if LEASE_DIR.is_dir():
        for lease in LEASE_DIR.iterdir():
            try:
                if lease.read_text().strip() == str(pid):
                    found.append(f"lease {lease}")
            except OSError:  # released meanwhile
                pass
    if (RUNS_DIR / str(pid)).exists():
        found.append(f"run record {pid}")
    if marker:
        found += [f"process {p} ({marker})" for p in processes_with(marker)]
    if out is not None:
        found += [f"partial output {p.name}" for p in out.parent.glob(f".{out.name}.partial*")]
    return found

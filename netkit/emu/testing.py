"""Helpers for tests, benchmarks and examples of live emulation: skip reasons, scratch namespaces, processes in them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

from netkit import interrupts
from netkit.emu import netns
from netkit.emu.names import new_name
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

"""Network namespaces: create and remove named ones, enter any (by name or `/proc/PID/ns/net`), list their processes.

`enter(ns)` moves only the calling thread, and moves it back afterwards. Sockets,
TUN devices and child processes created inside the `with` block belong to that
namespace for their whole life, which is how one process can hold devices in
several namespaces.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pyroute2 import IPRoute
from pyroute2 import netns as _pyroute2_netns

from netkit import interrupts
from netkit.emu.errors import EmuError, NameTaken

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def ns_path(ns: str | os.PathLike) -> str:
    """The file of a namespace: a bare name means `/run/netns/<name>`; a path is used as is."""
    ns = os.fspath(ns)
    return ns if "/" in ns else str(NETNS_DIR / ns)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@contextmanager
def enter(ns: str | os.PathLike | None) -> Iterator[None]:
    """Run the block in namespace `ns` (None: stay where we are), then return to the previous one."""
    if ns is None:
        yield
        return
    path = ns_path(ns)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise EmuError(f"network namespace {path} does not exist") from None
    entered = False
    home = None
    try:
        with interrupts.deferred():  # a signal must never leave this thread in the other namespace
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            _setns(target)
            entered = True
        yield
    finally:
        with interrupts.deferred():
            if entered:
                _setns(home)
            os.close(target)
            if home is not None:
                os.close(home)


def exists(name: str) -> bool:
    """Whether a named namespace exists."""
    return (NETNS_DIR / name).exists()


def create(name: str) -> str:
    """Create named namespace `name` with its loopback up; return its path. NameTaken if it exists."""
    if exists(name):
        raise NameTaken(f"network namespace {name!r} already exists ({NETNS_DIR / name}); "
                        "run `netkit clean` if a killed run left it")
    try:
        _pyroute2_netns.create(name)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise NameTaken(f"network namespace {name!r} already exists") from None
        raise EmuError(f"cannot create network namespace {name!r}: {exc}") from None
    with enter(name), IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    return ns_path(name)


def remove(name: str) -> None:
    """Kill what runs inside named namespace `name`, then unmount and delete it (no error if gone)."""
    if not exists(name):
        return
    kill_processes(ns_path(name))
    try:
        _pyroute2_netns.remove(name)
    except FileNotFoundError:
        pass


def list_names() -> list[str]:
    """Names of all named namespaces."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in(ns: str | os.PathLike) -> list[int]:
    """PIDs of the processes whose network namespace is `ns` (never this process)."""
    target = _inode(ns_path(ns))
    if target is None:
        return []
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and _inode(f"/proc/{entry}/ns/net") == target:
            pids.append(int(entry))
    return pids


def kill_processes(ns: str | os.PathLike, grace_s: float = 1.0) -> list[int]:
    """SIGTERM every process inside `ns`, SIGKILL those still there after `grace_s`; return the PIDs found."""
    pids = pids_in(ns)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < deadline and any(process_alive(p) for p in pids):
            time.sleep(0.02)
        if not any(process_alive(p) for p in pids):
            break
    return pids


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a zombie holds no namespace or device)."""
    try:
        # a zombie still exists for kill(); it no longer holds its namespace
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def write_sysctl(ns: str | os.PathLike | None, key: str, value: str) -> None:
    """Set sysctl `key` (dotted, e.g. net.ipv4.ip_forward) inside namespace `ns`."""
    path = "/proc/sys/" + key.replace(".", "/")
    with enter(ns):
        with open(path, "w") as f:
            f.write(value)

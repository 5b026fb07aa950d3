"""`netkit clean`: remove what killed runs left: `nk-<pid>-*` namespaces (and the processes in them),
`nk-*` interfaces, stale link processes, address leases and run records.

Only resources whose owning run is gone are touched, unless `everything=True`.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

from pyroute2 import IPRoute

from netkit.emu import addressing, netns
from netkit.emu.errors import require_root
from netkit.emu.names import PREFIX, RUNS_DIR, owner_alive, owner_pid


def _stale(name: str, everything: bool) -> bool:
    pid = owner_pid(name)
    if pid is None:
        return False
    return everything or pid != os.getpid() and not owner_alive(pid)


def _link_processes() -> list[tuple[int, int]]:
    """(pid, owner pid) of every running netkit link process."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"netkit.emu.linkproc" in argv and b"--run-id" in argv:
            i = argv.index(b"--run-id") + 1
            run_id = argv[i].decode() if i < len(argv) else ""
            owner = run_id[len(PREFIX):]
            out.append((int(entry), int(owner) if owner.isdigit() else 0))
    return out


def clean(everything: bool = False, log=print) -> list[str]:
    """Remove stale netkit resources; return a description of each thing removed."""
    require_root("netkit clean")
    removed: list[str] = []
    for name in netns.list_names():
        if name.startswith(PREFIX) and _stale(name, everything):
            pids = netns.pids_in(name)
            netns.remove(name)
            removed.append(f"network namespace {name}" + (f" (killed {len(pids)} processes)" if pids else ""))
    for pid, owner in _link_processes():
        if everything or not owner or not owner_alive(owner):
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(f"link process {pid} of run {owner}")
            except ProcessLookupError:
                pass
    with IPRoute() as ipr:
        for link in ipr.get_links():
            ifname = link.get_attr("IFLA_IFNAME")
            if ifname and ifname.startswith(PREFIX) and _stale(ifname, everything):
                ipr.link("del", index=link["index"])
                removed.append(f"interface {ifname}")
    for path in addressing.stale_leases() if not everything else _all_files(addressing.LEASE_DIR):
        Path(path).unlink(missing_ok=True)
        removed.append(f"address lease {path}")
    if RUNS_DIR.is_dir():
        for path in RUNS_DIR.iterdir():
            if path.name.isdigit() and (everything or not owner_alive(int(path.name))):
                path.unlink(missing_ok=True)
                removed.append(f"run record {path}")
    for what in removed:
        log(f"removed {what}")
    return removed


def _all_files(folder: Path) -> list[str]:
    return [str(p) for p in folder.iterdir()] if folder.is_dir() else []

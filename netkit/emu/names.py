"""Names of everything netkit creates: `nk-<pid>-<tag>`, so `netkit clean` can find what a dead run left.

The owner's PID is in every name. Interface names must fit Linux's 15 characters,
so tags are short (`o1`, `i1`, ...). A run also leaves `/run/netkit/runs/<pid>`
holding the owner's start time, which tells a live owner from a reused PID.
"""
from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

PREFIX = "nk-"
STATE_DIR = Path("/run/netkit")
RUNS_DIR = STATE_DIR / "runs"
IFNAMSIZ = 15
_NAME = re.compile(r"^nk-(\d+)-([A-Za-z0-9_.-]+)$")
_counter = itertools.count(1)


def run_prefix(pid: int | None = None) -> str:
    """`nk-<pid>-` for this process (or `pid`)."""
    return f"{PREFIX}{os.getpid() if pid is None else pid}-"


def _base36(n: int) -> str:
    """`n` in digits and lowercase letters: a long-lived process's counter stays short."""
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if not n:
            return digits


def new_name(tag: str) -> str:
    """A fresh name `nk-<pid>-<tag><n>` (n in base 36), unique within this process, short enough for an interface:
    with a one-letter tag, for 46,655 names at a 7-digit PID (the largest `pid_max`), 60 million at a 5-digit one."""
    name = f"{run_prefix()}{tag}{_base36(next(_counter))}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"name {name!r} is longer than {IFNAMSIZ} characters; use a shorter tag than {tag!r}")
    return name


def owner_pid(name: str) -> int | None:
    """The PID encoded in a netkit name, or None for names netkit did not make."""
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def process_start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of process `pid`, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields start after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def mark_run() -> None:
    """Record that this process owns `nk-<pid>-*` resources (with its start time, against PID reuse)."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path = RUNS_DIR / str(os.getpid())
    if not path.exists():
        path.write_text(process_start_time(os.getpid()) or "")


def unmark_run() -> None:
    """Forget this process's run record (its resources are gone)."""
    (RUNS_DIR / str(os.getpid())).unlink(missing_ok=True)


def owner_alive(pid: int) -> bool:
    """Whether the run with this PID is still going (same PID and, when recorded, same start time)."""
    started = process_start_time(pid)
    if started is None:
        return False
    try:
        recorded = (RUNS_DIR / str(pid)).read_text().strip()
    except OSError:
        recorded = ""
    return not recorded or recorded == started

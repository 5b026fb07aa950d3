"""Where real traces are found without naming a machine path: `NETKIT_TRACES`, else `../shared/traces` beside
the repository (the project's data folder), each searched as is and in its `mahimahi/` subfolder."""
from __future__ import annotations

import os
from pathlib import Path

ENV = "NETKIT_TRACES"
REPO_ROOT = Path(__file__).resolve().parents[2]


def trace_dirs() -> list[Path]:
    """Folders that may hold real traces, most specific first (only those that exist)."""
    roots = []
    if os.environ.get(ENV):
        roots.append(Path(os.environ[ENV]))
    roots.append(REPO_ROOT.parent / "shared" / "traces")
    out = []
    for root in roots:
        for d in (root, root / "mahimahi"):
            if d.is_dir() and d not in out:
                out.append(d)
    return out


def find_trace(name: str) -> Path | None:
    """The first `name` in `trace_dirs()`, or None (callers skip or say why)."""
    for d in trace_dirs():
        if (d / name).exists():
            return d / name
    return None


def lte_dir() -> Path | None:
    """The first folder with Mahimahi `*.down` traces, or None."""
    for d in trace_dirs():
        if any(d.glob("*.down")):
            return d
    return None

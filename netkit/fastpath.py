"""Which build of the simulator's hot path is in use: compiled (mypyc) or pure Python.

`scripts/build_compiled.py` (run by `make test` / `make demo` where a C compiler and mypyc
exist) compiles the modules in `COMPILED_MODULES` into extension modules next to their
sources and records each source's hash in `netkit/_fast_build.json`. On import of `netkit`,
`select()` keeps the compiled modules only when every recorded hash still matches its
source; otherwise (a source edited since the build, no build, or NETKIT_PURE=1) an import
hook loads all of them from their `.py` files, so a stale extension never runs and the two
builds are never mixed (they share native classes, so it is all or nothing). Both builds
give bit-identical results (tests/test_sim_scale.py runs both and compares logs).
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP = PACKAGE_DIR / "_fast_build.json"
COMPILED_MODULES = (
    "netkit.sim.engine", "netkit.sim.host", "netkit.sim.pipe",
    "netkit.transport.base", "netkit.transport.cc", "netkit.transport.prague", "netkit.transport.rtt",
    "netkit.transport.wire", "netkit.transport.stream", "netkit.transport.endpoint",
    "netkit.link.packet", "netkit.link.queues", "netkit.link.delay", "netkit.link.chain",
    "netkit.link.loss", "netkit.link.tracelink",
)
_state = {"compiled": False, "reason": "not selected yet"}


def source_path(module: str) -> Path:
    """The .py file of one of the compiled modules."""
    return PACKAGE_DIR.parent / (module.replace(".", "/") + ".py")


def source_hashes() -> dict[str, str]:
    """sha256 of each compiled module's source, as the build records them."""
    return {m: hashlib.sha256(source_path(m).read_bytes()).hexdigest() for m in COMPILED_MODULES}


class _PureFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules from their .py sources even where an extension module exists."""

    def find_spec(self, name, path=None, target=None):  # noqa: D102 - importlib protocol
        if name in COMPILED_MODULES:
            return importlib.util.spec_from_file_location(name, source_path(name))
        return None


def _why_not_compiled() -> str | None:
    if os.environ.get("NETKIT_PURE", "") not in ("", "0"):
        return "NETKIT_PURE is set"
    if not STAMP.exists():
        return "not built (run scripts/build_compiled.py)"
    try:
        recorded = json.loads(STAMP.read_text())["sources"]
    except (ValueError, KeyError):
        return f"{STAMP.name} unreadable"
    if recorded != source_hashes():
        return "sources changed since the build"
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for m in COMPILED_MODULES:
        base = source_path(m).with_suffix("")
        if not any(Path(str(base) + s).exists() for s in suffixes):
            return f"extension for {m} missing"
    return None


def select() -> None:
    """Decide once per process, before any compiled module is imported, which build to use."""
    if _state["reason"] != "not selected yet":
        return
    reason = _why_not_compiled()
    if reason is None:
        _state.update(compiled=True, reason="compiled build up to date")
        return
    _state.update(compiled=False, reason=reason)
    if not any(isinstance(f, _PureFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PureFinder())


def compiled() -> bool:
    """True when the mypyc-compiled hot path is in use."""
    select()
    return bool(_state["compiled"])


def describe() -> str:
    """One line: which build is in use and why."""
    select()
    return ("compiled (mypyc)" if _state["compiled"] else "pure Python") + f": {_state['reason']}"

"""Compile the simulator's hot path with mypyc, in place (`make test` / `make demo` run this).

    .venv/bin/python scripts/build_compiled.py [--clean]

Without a C compiler or mypyc it says so and exits 0: the pure-Python build is then used. A type error that
mypyc reports in the hot path fails the build (exit 1): it is a defect to fix, not a machine to fall back on.
The build is recorded in netkit/_fast_build.json (source hashes), which `netkit.fastpath`
checks on import, so an edited source falls back to pure Python until rebuilt.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["NETKIT_PURE"] = "1"  # importing netkit.fastpath must not load stale extensions

from netkit import fastpath  # noqa: E402


def _clean() -> None:
    for m in fastpath.COMPILED_MODULES:
        base = fastpath.source_path(m).with_suffix("")
        for p in base.parent.glob(base.name + ".*.so"):
            p.unlink()
    for p in fastpath.PACKAGE_DIR.glob("_fast__mypyc*.so"):
        p.unlink()
    fastpath.STAMP.unlink(missing_ok=True)


def main() -> int:
    """Build (or, with --clean, remove) the compiled modules; 0 also when falling back to pure Python."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", action="store_true", help="remove the compiled modules and the stamp")
    args = ap.parse_args()
    _clean()
    if args.clean:
        return 0
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    if not shutil.which(cc.split()[0]):
        print(f"no C compiler ({cc}): using the pure-Python simulator")
        return 0
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError:
        print("mypyc not installed: using the pure-Python simulator")
        return 0
    t0 = time.monotonic()
    os.chdir(ROOT)
    paths = [str(fastpath.source_path(m).relative_to(ROOT)) for m in fastpath.COMPILED_MODULES]
    hashes = fastpath.source_hashes()
    try:
        ext = mypycify(["--follow-imports=silent", "--ignore-missing-imports", *paths], group_name="netkit._fast", opt_level="3")
        setup(name="netkit-fast", packages=[], ext_modules=ext,
              script_args=["-q", "build_ext", "--inplace", "--build-temp", "build/mypyc-temp"])
    except SystemExit as exc:  # mypyc found a type error in the hot path: a defect of ours, not of the machine
        _clean()
        print(f"compiled build failed: mypyc reported type errors above (exit {exc.code}); fix them "
              "(NETKIT_PURE=1 runs the pure-Python simulator meanwhile)", file=sys.stderr)
        return 1
    except Exception as exc:  # the C compiler failed on this machine: stay pure
        _clean()
        print(f"compiled build failed ({exc}): using the pure-Python simulator")
        return 0
    fastpath.STAMP.write_text(json.dumps({"sources": hashes}, indent=1, sort_keys=True) + "\n")
    print(f"compiled {len(paths)} hot-path modules with mypyc in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""netkit: network emulation for modern AI and real-time media systems."""

__version__ = "0.1.0"

import sys as _sys

if getattr(_sys, "orig_argv", [])[1:3] == ["-m", "netkit.cli"] or (_sys.argv or [""])[0].rsplit("/", 1)[-1] == "netkit":
    from netkit import interrupts as _interrupts

    _interrupts.install(hold=True)  # started as the CLI: record signals from the first line; main() acts on them

from netkit import fastpath as _fastpath

_fastpath.select()  # before any hot-path module is imported: compiled if up to date, else pure Python

"""netkit: network emulation for modern AI and real-time media systems."""

__version__ = "0.1.0"

from netkit import fastpath as _fastpath

_fastpath.select()  # before any hot-path module is imported: compiled if up to date, else pure Python

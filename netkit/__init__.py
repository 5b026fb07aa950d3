"""netkit: network emulation for modern AI and real-time media systems."""

__version__ = "0.1.0"

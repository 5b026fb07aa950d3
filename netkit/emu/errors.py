"""Errors of the live emulator; each message names what failed and where."""
from __future__ import annotations

import os
import shutil


class EmuError(OSError):
    """Live emulation cannot proceed (an environment problem, not a bug); the message says why."""


class NotRootError(EmuError):
    """Creating namespaces, TUN devices and routes needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)."""


class ToolMissing(EmuError):
    """An external program or package (iperf3, Mininet, /dev/net/tun) is not installed."""


class NameTaken(EmuError):
    """A namespace, interface or port that would be created is already in use."""


def require_root(what: str) -> None:
    """Raise NotRootError naming `what` unless running as root."""
    if os.geteuid() != 0:
        raise NotRootError(f"{what} needs root (network namespaces and TUN devices); run it with sudo")


def require_tool(name: str, package: str | None = None) -> str:
    """Return the path of program `name`, or raise ToolMissing naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} not found on PATH; install it with: apt-get install {package or name}")
    return path


def require_tun() -> None:
    """Raise ToolMissing when the kernel offers no TUN/TAP device node."""
    if not os.path.exists("/dev/net/tun"):
        raise ToolMissing("/dev/net/tun is missing; load the tun module (modprobe tun)")


def require_mininet() -> None:
    """Raise ToolMissing when Mininet cannot be imported from this interpreter."""
    try:
        import mininet  # noqa: F401
    except ImportError:
        raise ToolMissing(
            "Mininet is not importable; apt-get install mininet, then python scripts/link_mininet.py"
        ) from None

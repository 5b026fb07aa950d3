"""TUN and TAP devices: open one (creating it in the current namespace) and get its file descriptor.

Devices are not persistent: the kernel deletes the interface when the last
descriptor closes, so a link process that dies, however it dies, leaves no
device behind.
"""
from __future__ import annotations

import errno
import fcntl
import os
import struct

from netkit.emu.errors import EmuError, NameTaken, require_tun

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFNAMSIZ = 16


def open_device(name: str, tap: bool = False) -> int:
    """Create TUN (or TAP) device `name` in the calling thread's namespace; return its non-blocking fd.

    Raises NameTaken if an interface of that name exists and is not a free
    TUN/TAP device of the same kind.
    """
    require_tun()
    if len(name) >= IFNAMSIZ:
        raise ValueError(f"interface name {name!r} is longer than {IFNAMSIZ - 1} characters")
    if _exists(name):
        raise NameTaken(f"interface {name!r} already exists in this network namespace")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    flags = (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EBUSY, errno.EEXIST, errno.EINVAL):
            raise NameTaken(f"interface {name!r} cannot be created: {exc.strerror}") from None
        raise EmuError(f"cannot create {'TAP' if tap else 'TUN'} device {name!r}: {exc.strerror}") from None
    return fd


def _exists(name: str) -> bool:
    # /sys/class/net shows the namespace /sys was mounted in, not the thread's; ask the kernel instead
    import socket

    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True

"""Leases of /30 subnets in 100.64.0.0/10 (RFC 6598 shared space, as Mahimahi uses) for TUN links.

Each live link gets its own subnet, so nested shells can route to one another.
A lease is a file `/run/netkit/subnets/<index>` holding the owner's PID; leases of
dead owners are taken over.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from netkit.emu.errors import EmuError
from netkit.emu.names import STATE_DIR, owner_alive

LEASE_DIR = STATE_DIR / "subnets"
BASE = ipaddress.IPv4Address("100.64.0.0")
MAX_LEASES = 1 << 20  # 100.64.0.0/10 holds 2^20 /30 subnets


@dataclass(frozen=True)
class Subnet:
    """A /30: `outer` is the address on the outside device, `inner` the one inside the namespace."""

    index: int

    @property
    def network(self) -> str:
        """The subnet in CIDR notation."""
        return f"{BASE + 4 * self.index}/30"

    @property
    def outer(self) -> str:
        """Address of the outside end."""
        return str(BASE + 4 * self.index + 1)

    @property
    def inner(self) -> str:
        """Address of the inside end."""
        return str(BASE + 4 * self.index + 2)


def lease() -> Subnet:
    """Take the lowest free subnet for this process."""
    LEASE_DIR.mkdir(parents=True, exist_ok=True)
    for index in range(MAX_LEASES):
        path = LEASE_DIR / str(index)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                owner = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
            if owner and not owner_alive(owner):
                path.unlink(missing_ok=True)  # a dead run's lease; the next pass may take it
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return Subnet(index)
    raise EmuError(f"no free subnet in 100.64.0.0/10 ({LEASE_DIR} is full); run `netkit clean`")


def release(subnet: Subnet) -> None:
    """Give the subnet back."""
    (LEASE_DIR / str(subnet.index)).unlink(missing_ok=True)


def stale_leases() -> list[str]:
    """Lease files whose owner is gone."""
    out = []
    if not LEASE_DIR.is_dir():
        return out
    for path in LEASE_DIR.iterdir():
        try:
            owner = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            owner = 0
        if not owner or not owner_alive(owner):
            out.append(str(path))
    return out

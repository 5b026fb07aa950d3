"""The packet that moves through link elements, in the simulator and in the live link."""
from __future__ import annotations

from typing import Any, Final

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # the decorator only matters to the compiler (scripts/build_compiled.py)
    def mypyc_attr(*args: object, **kwargs: object):  # type: ignore[no-redef,misc]
        """No-op stand-in for mypy_extensions.mypyc_attr."""
        return lambda cls: cls

# ECN codepoints (RFC 3168 / RFC 9331), the two low bits of the IPv4 TOS byte.
NOT_ECT: Final = 0b00
ECT1: Final = 0b01
ECT0: Final = 0b10
CE: Final = 0b11

# Bytes that mm-link charges per packet on top of its IP length (the TUN header).
TUN_HEADER_BYTES: Final = 4
# Bytes of IPv4 + UDP headers added to a datagram payload.
IP_UDP_HEADER_BYTES: Final = 28


class Packet:
    """One IP packet in flight.

    `size` is the IP length in bytes (what a TUN device would read, minus its 4-byte
    header). `data` is the transport payload, opaque to links: bytes, or inside the simulator
    a transport's frame object standing for them (`len(data)` is the payload's length). `flow`
    identifies the sender/receiver pair, `ecn` is the two-bit ECN field, `sent` the time (µs) the
    source emitted it, and `arrival` the time (µs) it entered the element that holds
    it now. `raw` keeps the original IP bytes when the live link forwards a real packet.
    """

    __slots__ = ("size", "data", "flow", "ecn", "sent", "arrival", "uid", "raw", "meta")

    def __init__(
        self,
        size: int,
        data: Any = b"",
        flow: int = 0,
        ecn: int = NOT_ECT,
        sent: int = 0,
        uid: int = 0,
        raw: bytes | None = None,
    ) -> None:
        self.size = size
        self.data = data
        self.flow = flow
        self.ecn = ecn
        self.sent = sent
        self.arrival = sent
        self.uid = uid
        self.raw = raw
        self.meta: dict | None = None

    @property
    def wire_bytes(self) -> int:
        """Bytes a Mahimahi link charges for this packet (IP length + TUN header)."""
        return self.size + TUN_HEADER_BYTES

    def __repr__(self) -> str:
        return f"Packet(size={self.size}, flow={self.flow}, ecn={self.ecn}, sent={self.sent}, uid={self.uid})"

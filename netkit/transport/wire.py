"""Wire formats of the reliable stream's DATA and ACK datagrams (big-endian, struct-packed)."""
from __future__ import annotations

import struct

DATA = 1
DATA_FIN = 0x81
ACK = 2

# type, packet number, stream offset, send time (µs); payload follows
DATA_HEADER = struct.Struct("!BQQQ")
# type, largest acknowledged, ack delay (µs), ECT(0), ECT(1), CE counts, number of ranges
ACK_HEADER = struct.Struct("!BQIIIIB")
ACK_RANGE = struct.Struct("!QQ")  # (low, high) packet numbers, inclusive, highest range first
# Like TCP's 3-4 SACK blocks: older holes have already been declared lost and resent.
MAX_ACK_RANGES = 4


class WireError(ValueError):
    """A datagram too short or of an unknown type for the reliable stream."""


def encode_ack(largest: int, ack_delay_us: int, ecn_counts: tuple[int, int, int], ranges: list[list[int]]) -> bytes:
    """An ACK datagram reporting `ranges` ([low, high], ascending) and cumulative ECN counts."""
    top = ranges[-MAX_ACK_RANGES:]
    head = ACK_HEADER.pack(ACK, largest, min(ack_delay_us, 0xFFFFFFFF), *ecn_counts, len(top))
    if len(top) == 1:
        return head + ACK_RANGE.pack(top[0][0], top[0][1])
    return head + b"".join([ACK_RANGE.pack(lo, hi) for lo, hi in reversed(top)])


def decode_ack(data: bytes) -> tuple[int, int, tuple[int, int, int], list[tuple[int, int]]]:
    """Parse an ACK datagram into (largest, ack delay, ECN counts, ranges highest first)."""
    if len(data) < ACK_HEADER.size:
        raise WireError(f"ACK datagram of {len(data)} bytes is shorter than its {ACK_HEADER.size}-byte header")
    _, largest, delay, e0, e1, ce, n = ACK_HEADER.unpack_from(data)
    need = ACK_HEADER.size + n * ACK_RANGE.size
    if len(data) < need:
        raise WireError(f"ACK datagram announces {n} ranges but is {len(data)} bytes (needs {need})")
    if n == 1:
        return largest, delay, (e0, e1, ce), [ACK_RANGE.unpack_from(data, ACK_HEADER.size)]
    ranges = [ACK_RANGE.unpack_from(data, ACK_HEADER.size + i * ACK_RANGE.size) for i in range(n)]
    return largest, delay, (e0, e1, ce), ranges

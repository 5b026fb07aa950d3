"""Wire formats of the reliable stream's DATA and ACK datagrams (big-endian, struct-packed)."""
from __future__ import annotations

import struct
from typing import Final

DATA: Final = 1
DATA_FIN: Final = 0x81
ACK: Final = 2

# type, packet number, stream offset, send time (µs); payload follows
DATA_HEADER: Final = struct.Struct("!BQQQ")
# type, largest acknowledged, ack delay (µs), ECT(0), ECT(1), CE counts, number of ranges
ACK_HEADER: Final = struct.Struct("!BQIIIIB")
ACK_RANGE: Final = struct.Struct("!QQ")  # (low, high) packet numbers, inclusive, highest range first
# the common ACK, header and one range, packed and parsed in one call (the same bytes)
_ACK_ONE: Final = struct.Struct("!BQIIIIBQQ")
_ACK_ONE_BYTES: Final = 42
assert _ACK_ONE.size == _ACK_ONE_BYTES == ACK_HEADER.size + ACK_RANGE.size
_pack_ack_one: Final = _ACK_ONE.pack
_unpack_ack_one: Final = _ACK_ONE.unpack
# Like TCP's 3-4 SACK blocks: older holes have already been declared lost and resent.
MAX_ACK_RANGES: Final = 4
# the header and n ranges in one struct, for n = 0..MAX_ACK_RANGES: one pack / unpack call per ACK
_ACK_N: Final = tuple(struct.Struct(ACK_HEADER.format + "QQ" * n) for n in range(MAX_ACK_RANGES + 1))
_COUNT_AT: Final = ACK_HEADER.size - 1  # offset of the number of ranges
_DATA_HEADER_BYTES: Final = 25
_ACK_HEADER_BYTES: Final = 26
_ACK_RANGE_BYTES: Final = 16
assert (_DATA_HEADER_BYTES, _ACK_HEADER_BYTES, _ACK_RANGE_BYTES) == (DATA_HEADER.size, ACK_HEADER.size, ACK_RANGE.size)


class WireError(ValueError):
    """A datagram too short or of an unknown type for the reliable stream."""


def encode_ack(largest: int, ack_delay_us: int, ecn_counts: tuple[int, int, int], ranges: list[list[int]]) -> bytes:
    """An ACK datagram reporting `ranges` ([low, high], ascending) and cumulative ECN counts."""
    delay = min(ack_delay_us, 0xFFFFFFFF)
    if len(ranges) == 1:
        lo, hi = ranges[0]
        return _pack_ack_one(ACK, largest, delay, ecn_counts[0], ecn_counts[1], ecn_counts[2], 1, lo, hi)
    top = ranges[-MAX_ACK_RANGES:]
    values: list[int] = [ACK, largest, delay, ecn_counts[0], ecn_counts[1], ecn_counts[2], len(top)]
    for lo, hi in reversed(top):
        values.append(lo)
        values.append(hi)
    return _ACK_N[len(top)].pack(*values)


def decode_ack(data: bytes) -> tuple[int, int, tuple[int, int, int], list[tuple[int, int]]]:
    """Parse an ACK datagram into (largest, ack delay, ECN counts, ranges highest first)."""
    if len(data) == _ACK_ONE_BYTES:
        v = _unpack_ack_one(data)
        if v[6] == 1:
            return v[1], v[2], (v[3], v[4], v[5]), [(v[7], v[8])]
    if len(data) < ACK_HEADER.size:
        raise WireError(f"ACK datagram of {len(data)} bytes is shorter than its {ACK_HEADER.size}-byte header")
    n = data[_COUNT_AT]
    if n <= MAX_ACK_RANGES and len(data) >= ACK_HEADER.size + n * ACK_RANGE.size:
        v = _ACK_N[n].unpack_from(data)
        return v[1], v[2], (v[3], v[4], v[5]), [(v[7 + 2 * i], v[8 + 2 * i]) for i in range(n)]
    _, largest, delay, e0, e1, ce, n = ACK_HEADER.unpack_from(data)
    need = ACK_HEADER.size + n * ACK_RANGE.size
    if len(data) < need:
        raise WireError(f"ACK datagram announces {n} ranges but is {len(data)} bytes (needs {need})")
    if n == 1:
        return largest, delay, (e0, e1, ce), [ACK_RANGE.unpack_from(data, ACK_HEADER.size)]
    ranges = [ACK_RANGE.unpack_from(data, ACK_HEADER.size + i * ACK_RANGE.size) for i in range(n)]
    return largest, delay, (e0, e1, ce), ranges


# -- frames: the same datagrams as objects, for the simulator ------------------------------------
# Inside one simulation the two ends of a stream can hand each other these instead of bytes
# (`netkit.transport.stream.use_frames`): the same fields and the same length as the encoded
# datagram, without packing and parsing them. Links only read a datagram's length.

class DataFrame:
    """A DATA datagram as an object: `len()` is its encoded length; `payload` None means zeros (bulk)."""

    def __init__(self, kind: int, pn: int, offset: int, sent: int, length: int, payload: bytes | None) -> None:
        self.kind = kind
        self.pn = pn
        self.offset = offset
        self.sent = sent
        self.length = length
        self.payload = payload

    def __len__(self) -> int:
        return _DATA_HEADER_BYTES + self.length

    def data(self) -> bytes:
        """The stream bytes it carries."""
        return self.payload if self.payload is not None else bytes(self.length)

    def to_bytes(self) -> bytes:
        """The datagram as it goes on the wire."""
        return DATA_HEADER.pack(self.kind, self.pn, self.offset, self.sent) + self.data()


class AckFrame:
    """An ACK datagram as an object: what `decode_ack` returns for `encode_ack`'s bytes, and their length."""

    def __init__(self, largest: int, ack_delay_us: int, ecn_counts: tuple[int, int, int],
                 ranges: list[list[int]]) -> None:
        self.largest = largest
        self.ack_delay = min(ack_delay_us, 0xFFFFFFFF)
        self.ecn_counts = ecn_counts
        # a copy of the newest MAX_ACK_RANGES (the receiver keeps extending its own ranges),
        # highest first as decode_ack gives them
        self.ranges: list[tuple[int, int]] = []
        last = len(ranges) - 1
        for j in range(last, max(last - MAX_ACK_RANGES, -1), -1):
            r = ranges[j]
            self.ranges.append((r[0], r[1]))

    def __len__(self) -> int:
        return _ACK_HEADER_BYTES + _ACK_RANGE_BYTES * len(self.ranges)

    def to_bytes(self) -> bytes:
        """The datagram as it goes on the wire."""
        return encode_ack(self.largest, self.ack_delay, self.ecn_counts, [[lo, hi] for lo, hi in reversed(self.ranges)])

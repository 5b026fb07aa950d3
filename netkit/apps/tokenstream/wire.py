"""Wire format of token packets and token ACKs (Eloquent and the plain-UDP reference).

Token packet (big-endian)::

    type u8 = 'T' | flags u8 | packet number u32 | [end u32 if flags & END]
    then runs until the end of the datagram:
        first token index u32 | count u16 | count x (length u8 | UTF-8 bytes)

`end` is the total number of tokens of the response, sent once the server has
finished; a run is a set of consecutive token indices.

Token ACK::

    type u8 = 'A' | flags u8 | largest packet number u32 | cumulative u32 | n u8 | n x (low u32, high u32)

`cumulative` is the number of leading tokens the receiver holds (all indices below
it); the ranges (inclusive, ascending) list tokens held above it. Flag END_KNOWN says
the receiver has learned the response's end.
"""
from __future__ import annotations

import struct
from typing import Iterable

TOKENS = 0x54  # 'T'
ACK = 0x41  # 'A'
END = 0x01
END_KNOWN = 0x01

HEADER = struct.Struct("!BBI")
END_FIELD = struct.Struct("!I")
RUN = struct.Struct("!IH")
ACK_HEADER = struct.Struct("!BBIIB")
ACK_RANGE = struct.Struct("!II")
MAX_ACK_RANGES = 16
MAX_RUN = 0xFFFF


class TokenWireError(ValueError):
    """A datagram that is not a well-formed token packet or token ACK."""


def header_size(with_end: bool) -> int:
    """Bytes of a token packet's header."""
    return HEADER.size + (END_FIELD.size if with_end else 0)


def runs_of(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted indices as (first, count) runs of consecutive values."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and runs[-1][0] + runs[-1][1] == i and runs[-1][1] < MAX_RUN:
            runs[-1][1] += 1
        else:
            runs.append([i, 1])
    return [(a, n) for a, n in runs]


def encode_tokens(pn: int, tokens: dict[int, bytes], end: int | None = None) -> bytes:
    """A token packet carrying `tokens` (index -> text) and, when known, the response's `end`."""
    parts = [HEADER.pack(TOKENS, END if end is not None else 0, pn & 0xFFFFFFFF)]
    if end is not None:
        parts.append(END_FIELD.pack(end))
    for first, count in runs_of(tokens):
        parts.append(RUN.pack(first, count))
        for i in range(first, first + count):
            tok = tokens[i]
            parts.append(bytes((len(tok),)))
            parts.append(tok)
    return b"".join(parts)


def decode_tokens(data: bytes) -> tuple[int, int | None, list[tuple[int, bytes]]]:
    """Parse a token packet into (packet number, end or None, [(index, text), ...])."""
    if len(data) < HEADER.size or data[0] != TOKENS:
        raise TokenWireError("not a token packet")
    _, flags, pn = HEADER.unpack_from(data)
    pos = HEADER.size
    end = None
    if flags & END:
        if len(data) < pos + END_FIELD.size:
            raise TokenWireError("token packet truncated in its end field")
        (end,) = END_FIELD.unpack_from(data, pos)
        pos += END_FIELD.size
    out: list[tuple[int, bytes]] = []
    n = len(data)
    while pos < n:
        if pos + RUN.size > n:
            raise TokenWireError(f"token packet truncated in a run header at byte {pos}")
        first, count = RUN.unpack_from(data, pos)
        pos += RUN.size
        for i in range(first, first + count):
            if pos >= n:
                raise TokenWireError(f"token packet truncated at token {i}")
            length = data[pos]
            tok = data[pos + 1:pos + 1 + length]
            if len(tok) != length:
                raise TokenWireError(f"token packet truncated inside token {i}")
            out.append((i, tok))
            pos += 1 + length
    return pn, end, out


def encode_ack(largest_pn: int, cumulative: int, ranges: list[tuple[int, int]], end_known: bool) -> bytes:
    """A token ACK; only the lowest MAX_ACK_RANGES ranges are sent (the sender needs the oldest first)."""
    ranges = ranges[:MAX_ACK_RANGES]
    head = ACK_HEADER.pack(ACK, END_KNOWN if end_known else 0, largest_pn & 0xFFFFFFFF, cumulative, len(ranges))
    return head + b"".join(ACK_RANGE.pack(lo, hi) for lo, hi in ranges)


def decode_ack(data: bytes) -> tuple[int, int, list[tuple[int, int]], bool]:
    """Parse a token ACK into (largest packet number, cumulative, ranges, end known)."""
    if len(data) < ACK_HEADER.size or data[0] != ACK:
        raise TokenWireError("not a token ACK")
    _, flags, largest, cum, n = ACK_HEADER.unpack_from(data)
    need = ACK_HEADER.size + n * ACK_RANGE.size
    if len(data) < need:
        raise TokenWireError(f"token ACK announces {n} ranges but is {len(data)} bytes (needs {need})")
    ranges = [ACK_RANGE.unpack_from(data, ACK_HEADER.size + i * ACK_RANGE.size) for i in range(n)]
    return largest, cum, ranges, bool(flags & END_KNOWN)


class PacketBudget:
    """Chooses tokens for one packet without exceeding `limit` bytes, whatever order they are added in.

    Adding index i costs 1 + len(text), plus one run header if i starts a new run,
    minus one if it joins two runs; the total is exactly the encoded size.
    """

    def __init__(self, limit: int, with_end: bool) -> None:
        self.limit = limit
        self.size = header_size(with_end)
        self.tokens: dict[int, bytes] = {}

    def try_add(self, index: int, text: bytes) -> bool:
        """Add the token if it fits; report whether it did."""
        joins = (index - 1 in self.tokens) + (index + 1 in self.tokens)
        cost = 1 + len(text) + RUN.size * (1 - joins)
        if self.size + cost > self.limit:
            return False
        self.tokens[index] = text
        self.size += cost
        return True

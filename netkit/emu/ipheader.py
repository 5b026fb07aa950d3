"""Reading and rewriting the ECN field of real IPv4/IPv6 packets, and the flow a packet belongs to."""
from __future__ import annotations

import socket
import struct

_WORDS = [struct.Struct(f"!{n}H") for n in range(0, 31)]


def ecn_of(raw: bytes | bytearray, off: int = 0) -> int:
    """The two ECN bits of the IP packet starting at `raw[off]` (IPv4 TOS or IPv6 traffic class)."""
    if raw[off] >> 4 == 6:
        return (raw[off + 1] >> 4) & 3
    return raw[off + 1] & 3


def ipv4_checksum(header: bytes | bytearray) -> int:
    """The Internet checksum of an IPv4 header whose checksum field is zero."""
    total = sum(_WORDS[len(header) // 2].unpack(header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def set_ecn(raw: bytes | bytearray, ecn: int, off: int = 0) -> bytearray:
    """A copy of the packet at `raw[off]` with its ECN bits set to `ecn` (IPv4 header checksum fixed)."""
    out = bytearray(raw)
    if out[off] >> 4 == 6:
        out[off + 1] = (out[off + 1] & 0xCF) | (ecn << 4)
        return out
    ihl = (out[off] & 0x0F) * 4
    out[off + 1] = (out[off + 1] & 0xFC) | ecn
    out[off + 10:off + 12] = b"\0\0"
    struct.pack_into("!H", out, off + 10, ipv4_checksum(out[off:off + ihl]))
    return out


def flow_key(raw: bytes | bytearray, off: int = 0) -> str:
    """`proto src:sport>dst:dport` of an IPv4 packet (ports for TCP/UDP only), `?` for anything else."""
    if len(raw) < off + 20 or raw[off] >> 4 != 4:
        return "?"
    ihl = (raw[off] & 0x0F) * 4
    proto = raw[off + 9]
    src = socket.inet_ntoa(bytes(raw[off + 12:off + 16]))
    dst = socket.inet_ntoa(bytes(raw[off + 16:off + 20]))
    if proto in (6, 17) and len(raw) >= off + ihl + 4:
        sport, dport = struct.unpack_from("!HH", raw, off + ihl)
        return f"{'tcp' if proto == 6 else 'udp'} {src}:{sport}>{dst}:{dport}"
    return f"{proto} {src}>{dst}"

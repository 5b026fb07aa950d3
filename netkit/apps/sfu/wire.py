"""IPv4/UDP framing of SFU datagrams (the simulator carries IPv4 bytes; the switch sees Ethernet frames)."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETHERNET_IPV4 = bytes(12) + b"\x08\x00"


def ip_int(addr: str) -> int:
    """Dotted IPv4 address as an int."""
    return int(ipaddress.IPv4Address(addr))


def _checksum(header: bytes) -> int:
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_ipv4(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 0) -> bytes:
    """An IPv4 packet carrying one UDP datagram (UDP checksum 0, valid over IPv4)."""
    total = 20 + 8 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0, 64, 17, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


@dataclass(frozen=True)
class Datagram:
    """A parsed IPv4/UDP datagram."""

    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def parse_udp_ipv4(data: bytes) -> Datagram | None:
    """The datagram in an IPv4 packet, or None when it is not IPv4/UDP or is truncated."""
    if len(data) < 28 or data[0] >> 4 != 4 or data[9] != 17:
        return None
    ihl = (data[0] & 0xF) * 4
    if len(data) < ihl + 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", data, ihl)
    payload = data[ihl + 8: ihl + max(8, length)]
    return Datagram(str(ipaddress.IPv4Address(data[12:16])), str(ipaddress.IPv4Address(data[16:20])),
                    sport, dport, payload)

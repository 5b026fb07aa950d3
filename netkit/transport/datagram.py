"""Sans-I/O datagram endpoints with per-packet ECN: a generic one and a constant-bit-rate sender/sink."""
from __future__ import annotations

import struct
from collections import deque
from typing import Callable

from netkit.link.packet import NOT_ECT
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram

# sequence number, send time (µs)
CBR_HEADER = struct.Struct("!QQ")


class DatagramEndpoint:
    """Sends what the application queues (each with its ECN codepoint) and hands on what arrives."""

    def __init__(self, on_datagram: Callable[[bytes, int, int], None] | None = None) -> None:
        self.on_datagram = on_datagram
        self._outbox: deque[Datagram] = deque()
        self.received: list[tuple[int, bytes, int]] = []  # (time, data, ecn) when no callback is set

    def send(self, data: bytes, ecn: int = NOT_ECT) -> None:
        """Queue a datagram."""
        if len(data) > MAX_DATAGRAM_PAYLOAD:
            raise ValueError(f"datagram of {len(data)} bytes exceeds the {MAX_DATAGRAM_PAYLOAD}-byte payload limit")
        self._outbox.append(Datagram(data, ecn))

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Deliver an arriving datagram to the application."""
        if self.on_datagram is not None:
            self.on_datagram(data, now, ecn)
        else:
            self.received.append((now, data, ecn))

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Everything queued."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def get_timer(self) -> int | None:
        """No timers of its own."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""


class CbrSender:
    """Sends `payload`-byte datagrams at a constant bit rate (IP bytes), numbered and time-stamped."""

    def __init__(self, rate_mbps: float, payload: int = MAX_DATAGRAM_PAYLOAD, ecn: int = NOT_ECT,
                 start: int = 0, stop: int | None = None) -> None:
        if rate_mbps <= 0:
            raise ValueError(f"CBR rate must be > 0 Mbit/s, got {rate_mbps}")
        if not CBR_HEADER.size <= payload <= MAX_DATAGRAM_PAYLOAD:
            raise ValueError(f"CBR payload must be {CBR_HEADER.size}..{MAX_DATAGRAM_PAYLOAD} bytes, got {payload}")
        self.payload = payload
        self.ecn = ecn
        self.interval_us = (payload + 28) * 8 / rate_mbps  # µs between packets, fractional
        self._next = float(start)
        self.stop = stop
        self.seq = 0
        self._pad = bytes(payload - CBR_HEADER.size)

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """CBR ignores feedback."""

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Every packet whose slot has come."""
        out = []
        while self._next <= now and (self.stop is None or self._next < self.stop):
            out.append(Datagram(CBR_HEADER.pack(self.seq, now) + self._pad, self.ecn))
            self.seq += 1
            self._next += self.interval_us
        return out

    def get_timer(self) -> int | None:
        """The next packet's slot."""
        if self.stop is not None and self._next >= self.stop:
            return None
        return int(self._next) + (0 if self._next == int(self._next) else 1)

    def handle_timer(self, now: int) -> None:
        """Nothing beyond what datagrams_to_send does."""


class CbrReceiver:
    """Counts CBR datagrams and records their sequence numbers, one-way delays and ECN marks."""

    def __init__(self) -> None:
        self.received = 0
        self.bytes = 0
        self.ce = 0
        self.max_seq = -1
        self.delays_us: list[int] = []

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Record one datagram."""
        if len(data) < CBR_HEADER.size:
            return
        seq, sent = CBR_HEADER.unpack_from(data)
        self.received += 1
        self.bytes += len(data)
        self.max_seq = max(self.max_seq, seq)
        self.delays_us.append(now - sent)
        if ecn == 0b11:
            self.ce += 1

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """The sink sends nothing."""
        return []

    def get_timer(self) -> int | None:
        """No timers."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""

"""The sans-I/O endpoint interface every transport and host module implements.

Modelled on aioquic's QuicConnection: an endpoint is told the time (integer
microseconds) and handed datagrams; it returns datagrams to send and the time of
its next timer. It never touches a socket or a clock, so the same object runs in
the simulator and over real sockets in the emulator.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol


class Datagram(NamedTuple):
    """A datagram payload and the ECN codepoint to send it with."""

    data: bytes
    ecn: int = 0


class Endpoint(Protocol):
    """A sans-I/O endpoint."""

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Handle a datagram that arrived at `now` (µs) carrying ECN codepoint `ecn`."""

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Datagrams the endpoint wants sent at `now` (possibly none)."""

    def get_timer(self) -> int | None:
        """When `handle_timer` should next be called (µs), or None."""

    def handle_timer(self, now: int) -> None:
        """The timer fired at `now`."""


_tuple_new = tuple.__new__


def make_datagram(data: bytes, ecn: int = 0) -> Datagram:
    """`Datagram(data, ecn)`, built the way namedtuple's own __new__ builds it minus its Python frame.

    The same object (type, fields, equality); the hot paths of the simulator use it.
    """
    return _tuple_new(Datagram, (data, ecn))  # type: ignore[no-any-return]


def earliest(*times: int | None) -> int | None:
    """The earliest of several optional timer times (None: no timer), or None if none is set."""
    best = None
    for t in times:
        if t is not None and (best is None or t < best):
            best = t
    return best


# Largest datagram payload that keeps the IP packet within a 1500-byte MTU.
MAX_DATAGRAM_PAYLOAD = 1500 - 28

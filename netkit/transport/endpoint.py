"""`StreamEndpoint`: one side of a bidirectional connection (a StreamSender and a StreamReceiver)."""
from __future__ import annotations

from netkit.transport.base import Datagram, earliest
from netkit.transport.stream import StreamReceiver, StreamSender
from netkit.transport.wire import ACK


class StreamEndpoint:
    """Routes ACKs to the sending half and DATA to the receiving half; merges their output and timers."""

    def __init__(self, sender: StreamSender | None = None, receiver: StreamReceiver | None = None) -> None:
        self.sender = sender or StreamSender()
        self.receiver = receiver or StreamReceiver()

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Hand the datagram to the half it is for."""
        if data and data[0] == ACK:
            self.sender.receive_datagram(data, now, ecn)
        else:
            self.receiver.receive_datagram(data, now, ecn)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """ACKs first, then data."""
        acks = self.receiver.datagrams_to_send(now)
        data = self.sender.datagrams_to_send(now)
        return acks + data if acks else data

    def get_timer(self) -> int | None:
        """The earlier of the two halves' timers."""
        return earliest(self.sender.get_timer(), self.receiver.get_timer())

    def handle_timer(self, now: int) -> None:
        """Fire whichever half is due."""
        t = self.sender.get_timer()
        if t is not None and t <= now:
            self.sender.handle_timer(now)
        t = self.receiver.get_timer()
        if t is not None and t <= now:
            self.receiver.handle_timer(now)

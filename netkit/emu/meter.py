"""`FlowMeter`: fills a simulator `FlowRecord` from a live flow, so both modes are summarised by the same code.

The simulator reads a packet's send time from the packet object. On a real path
only bytes arrive, so the meter remembers when each datagram was sent (keyed by
its content's hash; sender and receiver run in one process) and pairs it with
its arrival. Sizes are IP lengths (payload + 28), as in the simulator.
"""
from __future__ import annotations

from collections import deque

from netkit.link.packet import IP_UDP_HEADER_BYTES, Packet
from netkit.sim.metrics import FlowRecord


class FlowMeter:
    """Hooks for a sender's and a receiver's driver (`on_send`, `on_receive`) that fill `record`."""

    def __init__(self, record: FlowRecord) -> None:
        self.record = record
        self._sent: dict[int, deque[int] | int] = {}
        self.unmatched = 0

    def on_send(self, data: bytes, now: int, ecn: int) -> None:
        """A data datagram left the sender at `now`."""
        self.record.on_send(Packet(len(data) + IP_UDP_HEADER_BYTES, ecn=ecn, sent=now))
        key = hash(data)
        prev = self._sent.get(key)
        if prev is None:
            self._sent[key] = now
        elif isinstance(prev, deque):
            prev.append(now)
        else:
            self._sent[key] = deque((prev, now))

    def on_receive(self, data: bytes, now: int, ecn: int) -> None:
        """A data datagram reached the receiver at `now` with ECN codepoint `ecn`."""
        key = hash(data)
        sent = self._sent.pop(key, None)
        if sent is None:
            self.unmatched += 1
            return
        if isinstance(sent, deque):
            t = sent.popleft()
            if sent:
                self._sent[key] = sent
            sent = t
        self.record.on_receive(Packet(len(data) + IP_UDP_HEADER_BYTES, ecn=ecn, sent=sent), now)

    @property
    def outstanding(self) -> int:
        """Datagrams sent and not (yet) received."""
        return sum(len(v) if isinstance(v, deque) else 1 for v in self._sent.values())

"""`Pipe`: drives one link element (or Chain) in the simulator and hands its output to receivers."""
from __future__ import annotations

from typing import Callable

from netkit.link.element import LinkElement
from netkit.link.packet import Packet
from netkit.sim.engine import Simulator

Sink = Callable[[Packet, int], None]


class Pipe:
    """One direction of a path: packets enter `send`, leave through the sink registered for their flow."""

    def __init__(self, sim: Simulator, element: LinkElement, name: str = "pipe") -> None:
        self.sim = sim
        self.element = element
        self.name = name
        self.sinks: dict[int, Sink] = {}
        self.default_sink: Sink | None = None
        self._wake: int | None = None
        self.drop_sinks: dict[int, Sink] = {}
        if hasattr(element, "on_drop"):
            element.on_drop = self._on_drop

    def _on_drop(self, pkt: Packet, t: int) -> None:
        sink = self.drop_sinks.get(pkt.flow)
        if sink is not None:
            sink(pkt, t)

    def connect(self, flow: int, sink: Sink) -> None:
        """Deliver packets of `flow` to `sink(packet, time)`."""
        self.sinks[flow] = sink

    def on_flow_drop(self, flow: int, sink: Sink) -> None:
        """Tell `sink(packet, time)` about every packet of `flow` the element drops."""
        self.drop_sinks[flow] = sink

    def send(self, pkt: Packet) -> None:
        """A packet enters the element now."""
        self.element.enqueue(pkt, self.sim.now)
        self._schedule()

    def _schedule(self) -> None:
        t = self.element.next_time()
        if t is not None and (self._wake is None or t < self._wake):
            self._wake = t
            self.sim.at(t, self._on_wake)

    def _on_wake(self) -> None:
        now = self.sim.now
        if self._wake is not None and self._wake <= now:
            self._wake = None
        released = self.element.dequeue(now)
        sinks = self.sinks
        for t, pkt in released:
            sink = sinks.get(pkt.flow, self.default_sink)
            if sink is not None:
                sink(pkt, t)
        self._schedule()

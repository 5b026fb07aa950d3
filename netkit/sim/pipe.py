"""`Pipe`: drives one link element (or Chain) in the simulator and hands its output to receivers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.element import LinkElement
from netkit.link.packet import Packet
from netkit.link.tracelink import TraceLink
from netkit.sim.engine import Simulator

if TYPE_CHECKING:  # host.py imports this module
    from netkit.sim.host import Host

Sink = Callable[[Packet, int], None]


class Pipe:
    """One direction of a path: packets enter `send`, leave through the sink registered for their flow."""

    def __init__(self, sim: Simulator, element: LinkElement, name: str = "pipe") -> None:
        self.sim = sim
        self.element = element
        # Plain delays at either end of a chain are folded into one scheduled event per packet:
        # the same timing as stepping Delay objects, with far less work per packet.
        self.pre_delay_us, self.core, self.post_delay_us = _split_delays(element)
        self.name = name
        self.sinks: dict[int, Sink] = {}
        # hosts connected with connect_host: called directly, not through a bound method
        self._hosts: dict[int, Host] = {}
        self.default_sink: Sink | None = None
        self._wake = -1  # when the core is next due to be woken (-1: no wake-up scheduled)
        self.drop_sinks: dict[int, Sink] = {}
        # Packets due at the same time are carried by one event when nothing else was scheduled
        # in between: the same order of execution as one event each, with fewer events.
        self._in_batch: list[Packet] = []
        self._in_t = -1
        self._in_seq = -1
        self._out_batch: list[Packet] = []
        self._out_t = -1
        self._out_seq = -1
        if hasattr(self.core, "on_drop"):
            self.core.on_drop = self._on_drop  # type: ignore[union-attr]
        # callbacks bound once, not on every event
        self._enter_all_cb: Callable[[list[Packet]], None] = self._enter_all
        self._sink_all_cb: Callable[[list[Packet]], None] = self._sink_all
        self._on_wake_cb: Callable[[], None] = self._on_wake
        # the core's methods, bound once (cheaper per packet than a lookup by name)
        core = self.core
        self._trace: TraceLink | None = core if type(core) is TraceLink else None
        self._core_enqueue: Callable[[Packet, int], None] = core.enqueue if core is not None else _no_core
        self._core_next_time: Callable[[], int | None] = core.next_time if core is not None else _nothing_next
        self._core_dequeue: Callable[[int], list[tuple[int, Packet]]] = (
            core.dequeue if core is not None else _nothing_out)

    def _on_drop(self, pkt: Packet, t: int) -> None:
        sink = self.drop_sinks.get(pkt.flow)
        if sink is not None:
            sink(pkt, t)

    def connect(self, flow: int, sink: Sink) -> None:
        """Deliver packets of `flow` to `sink(packet, time)`."""
        self.sinks[flow] = sink
        self._hosts.pop(flow, None)

    def connect_host(self, flow: int, host: Host) -> None:
        """Deliver packets of `flow` to `host.receive` (the same as `connect(flow, host.receive)`, faster)."""
        self.sinks[flow] = host.receive
        self._hosts[flow] = host

    def on_flow_drop(self, flow: int, sink: Sink) -> None:
        """Tell `sink(packet, time)` about every packet of `flow` the element drops."""
        self.drop_sinks[flow] = sink

    def send(self, pkt: Packet) -> None:
        """A packet enters the element now."""
        pre = self.pre_delay_us
        if not pre:
            self._enter(pkt)
            return
        sim = self.sim
        t = sim.now + pre
        if t == self._in_t and sim._seq == self._in_seq:
            self._in_batch.append(pkt)
            return
        batch = [pkt]
        sim.at_one(t, self._enter_all_cb, batch)
        self._in_batch = batch
        self._in_t = t
        self._in_seq = sim._seq

    def _enter_all(self, batch: list[Packet]) -> None:
        for pkt in batch:
            self._enter(pkt)

    def _enter(self, pkt: Packet) -> None:
        if self.core is None:
            self._deliver(pkt, self.sim.now)
            return
        trace = self._trace
        if trace is not None:
            trace.enqueue(pkt, self.sim.now)
        else:
            self._core_enqueue(pkt, self.sim.now)
        self._schedule()

    def _deliver(self, pkt: Packet, t: int) -> None:
        if self.post_delay_us:
            self._sink_later(t + self.post_delay_us, pkt)
        else:
            self._sink(pkt)

    def _sink_later(self, t: int, pkt: Packet) -> None:
        sim = self.sim
        if t == self._out_t and sim._seq == self._out_seq:
            self._out_batch.append(pkt)
            return
        batch = [pkt]
        sim.at_one(t, self._sink_all_cb, batch)
        self._out_batch = batch
        self._out_t = t
        self._out_seq = sim._seq

    def _sink_all(self, batch: list[Packet]) -> None:
        now = self.sim.now
        for pkt in batch:
            self._sink_at(pkt, now)

    def _sink(self, pkt: Packet) -> None:
        self._sink_at(pkt, self.sim.now)

    def _sink_at(self, pkt: Packet, t: int) -> None:
        host = self._hosts.get(pkt.flow)
        if host is not None:
            host.receive(pkt, t)
            return
        sink = self.sinks.get(pkt.flow, self.default_sink)
        if sink is not None:
            sink(pkt, t)

    def _schedule(self) -> None:
        trace = self._trace
        if trace is not None:
            t = trace.next_time_us()
        else:
            nt = self._core_next_time()
            t = -1 if nt is None else nt
        if t >= 0 and (self._wake < 0 or t < self._wake):
            self._wake = t
            self.sim.at_none(t, self._on_wake_cb)

    def _on_wake(self) -> None:
        now = self.sim.now
        if 0 <= self._wake <= now:
            self._wake = -1
        trace = self._trace
        released = trace.dequeue(now) if trace is not None else self._core_dequeue(now)
        post = self.post_delay_us
        if post:
            for t, pkt in released:
                self._sink_later(t + post, pkt)
        else:
            for t, pkt in released:
                self._sink_at(pkt, t)
        self._schedule()


def _no_core(pkt: Packet, now: int) -> None:
    raise AssertionError("a pipe without a core element delivers packets directly")


def _nothing_next() -> int | None:
    return None


def _nothing_out(now: int) -> list[tuple[int, Packet]]:
    return []


def _plain_delay_us(el: object) -> int | None:
    """The delay of a plain (unlogged, not subclassed) `Delay`, else None."""
    if type(el) is Delay and el.log is None:
        return el.delay_us
    return None


def _split_delays(element: LinkElement) -> tuple[int, LinkElement | None, int]:
    """(leading delay µs, the elements between, trailing delay µs) of a chain."""
    d = _plain_delay_us(element)
    if d is not None:
        return d, None, 0
    if not isinstance(element, Chain):
        return 0, element, 0
    els = list(element.elements)
    pre = post = 0
    while els and (d := _plain_delay_us(els[0])) is not None:
        pre += d
        els.pop(0)
    while els and (d := _plain_delay_us(els[-1])) is not None:
        post += d
        els.pop()
    if not els:
        return pre + post, None, 0
    core: LinkElement = els[0] if len(els) == 1 else Chain(els)
    if hasattr(element, "on_drop"):
        core.on_drop = element.on_drop  # type: ignore[attr-defined]
    return pre, core, post

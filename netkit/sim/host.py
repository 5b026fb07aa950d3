"""`Host`: runs one sans-I/O endpoint in the simulator, sending into a pipe and receiving from one."""
from __future__ import annotations

from typing import Any, Callable

from netkit.link.packet import IP_UDP_HEADER_BYTES, Packet
from netkit.sim.engine import Simulator
from netkit.sim.metrics import FlowRecord
from netkit.sim.pipe import Pipe
from netkit.transport.base import Datagram, Endpoint
from netkit.transport.stream import StreamReceiver, StreamSender


class Host:
    """Feeds arriving packets to an endpoint and its datagrams into the outgoing pipe.

    After every arrival and timer the host asks the endpoint for datagrams and
    re-arms the endpoint's timer (only earlier timers are added to the event
    queue; a stale wake-up just finds nothing due).
    """

    def __init__(self, sim: Simulator, endpoint: Endpoint, out: Pipe, flow: int, name: str = "host") -> None:
        self.sim = sim
        self.endpoint = endpoint  # also binds its four methods once (see the property)
        self.out = out
        self.flow = flow
        self.name = name
        self._timer = -1  # the earliest timer wake-up scheduled and not yet run (-1: none)
        self._uid = flow << 40
        self.on_send: Callable[[Packet], None] | None = None
        self.on_receive: Callable[[Packet, int], None] | None = None
        # the flow's record, fed directly (what `on_send=record.on_send` would do, without a generic call)
        self.send_record: FlowRecord | None = None
        self.receive_record: FlowRecord | None = None
        self.packets_sent = 0
        self.bytes_sent = 0
        self._on_timer_cb: Callable[[int], None] = self._on_timer  # bound once

    @property
    def endpoint(self) -> Endpoint:
        """The sans-I/O endpoint this host runs."""
        return self._endpoint

    @endpoint.setter
    def endpoint(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        # The stream's own two ends are called directly (a native call in the compiled build);
        # any other endpoint through its four methods, bound once.
        self._tx: StreamSender | None = endpoint if type(endpoint) is StreamSender else None
        self._rx: StreamReceiver | None = endpoint if type(endpoint) is StreamReceiver else None
        self._receive_datagram: Callable[[bytes, int, int], None] = endpoint.receive_datagram
        self._datagrams_to_send: Callable[[int], list[Datagram]] = endpoint.datagrams_to_send
        self._get_timer: Callable[[], int | None] = endpoint.get_timer
        self._handle_timer: Callable[[int], None] = endpoint.handle_timer

    def start(self, at: int = 0) -> None:
        """Let the endpoint send its first datagrams at time `at`."""
        self.sim.at(at, self._pump)

    def receive(self, pkt: Packet, t: int) -> None:
        """A packet of this host's flow arrived (the pipe's sink)."""
        rec = self.receive_record
        if rec is not None:
            rec.on_receive(pkt, t)
        if self.on_receive is not None:
            self.on_receive(pkt, t)
        rx = self._rx
        if rx is not None:
            rx.receive_datagram(pkt.data, t, pkt.ecn)
        else:
            tx = self._tx
            if tx is not None:
                tx.receive_datagram(pkt.data, t, pkt.ecn)
            else:
                self._receive_datagram(pkt.data, t, pkt.ecn)
        self._pump()

    def _pump(self) -> None:
        now = self.sim.now
        tx = self._tx
        rx = self._rx
        if tx is not None or rx is not None:
            # the stream's own ends say each packet's size
            sized = tx.payloads_to_send(now) if tx is not None else rx.payloads_to_send(now)  # type: ignore[union-attr]
            for data, ecn, size in sized:
                self._emit(data, ecn, size, now)
            self.packets_sent += len(sized)
        else:
            dgrams = self._datagrams_to_send(now)
            for data, ecn in dgrams:
                self._emit(data, ecn, len(data) + IP_UDP_HEADER_BYTES, now)
            self.packets_sent += len(dgrams)
        if tx is not None:
            t = tx.get_timer()
        elif rx is not None:
            t = rx.get_timer()
        else:
            t = self._get_timer()
        if t is not None and (self._timer < 0 or t < self._timer or self._timer < now):
            self._timer = t
            self.sim.at_one(t, self._on_timer_cb, t)

    def _emit(self, data: Any, ecn: int, size: int, now: int) -> None:
        """One datagram of `size` IP bytes leaves the host now."""
        self._uid += 1
        pkt = Packet(size, data, self.flow, ecn, now, self._uid)
        self.bytes_sent += size
        rec = self.send_record
        if rec is not None:
            rec.on_send(pkt)
        if self.on_send is not None:
            self.on_send(pkt)
        self.out.send(pkt)

    def _on_timer(self, t: int) -> None:
        if self._timer == t:
            self._timer = -1
        now = self.sim.now
        tx = self._tx
        rx = self._rx
        if tx is not None:
            due = tx.get_timer()
            if due is not None and due <= now:
                tx.handle_timer(now)
        elif rx is not None:
            due = rx.get_timer()
            if due is not None and due <= now:
                rx.handle_timer(now)
        else:
            due = self._get_timer()
            if due is not None and due <= now:
                self._handle_timer(now)
        self._pump()

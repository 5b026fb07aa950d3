"""`Host`: runs one sans-I/O endpoint in the simulator, sending into a pipe and receiving from one."""
from __future__ import annotations

from typing import Callable

from netkit.link.packet import IP_UDP_HEADER_BYTES, Packet
from netkit.sim.engine import Simulator
from netkit.sim.pipe import Pipe
from netkit.transport.base import Datagram, Endpoint


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
        self._timer: int | None = None
        self._uid = flow << 40
        self.on_send: Callable[[Packet], None] | None = None
        self.on_receive: Callable[[Packet, int], None] | None = None
        self.packets_sent = 0
        self.bytes_sent = 0

    @property
    def endpoint(self) -> Endpoint:
        """The sans-I/O endpoint this host runs."""
        return self._endpoint

    @endpoint.setter
    def endpoint(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        # bound once: calling these is cheaper than looking the methods up on every packet
        self._receive_datagram: Callable[[bytes, int, int], None] = endpoint.receive_datagram
        self._datagrams_to_send: Callable[[int], list[Datagram]] = endpoint.datagrams_to_send
        self._get_timer: Callable[[], int | None] = endpoint.get_timer
        self._handle_timer: Callable[[int], None] = endpoint.handle_timer

    def start(self, at: int = 0) -> None:
        """Let the endpoint send its first datagrams at time `at`."""
        self.sim.at(at, self._pump)

    def receive(self, pkt: Packet, t: int) -> None:
        """A packet of this host's flow arrived (the pipe's sink)."""
        if self.on_receive is not None:
            self.on_receive(pkt, t)
        self._receive_datagram(pkt.data, t, pkt.ecn)
        self._pump()

    def _pump(self) -> None:
        now = self.sim.now
        dgrams = self._datagrams_to_send(now)
        if dgrams:
            out = self.out
            on_send = self.on_send
            flow = self.flow
            for data, ecn in dgrams:
                self._uid += 1
                pkt = Packet(len(data) + IP_UDP_HEADER_BYTES, data, flow, ecn, now, self._uid)
                self.bytes_sent += pkt.size
                if on_send is not None:
                    on_send(pkt)
                out.send(pkt)
            self.packets_sent += len(dgrams)
        t = self._get_timer()
        if t is not None and (self._timer is None or t < self._timer or self._timer < now):
            self._timer = t
            self.sim.at(t, self._on_timer, t)

    def _on_timer(self, t: int) -> None:
        if self._timer == t:
            self._timer = None
        due = self._get_timer()
        if due is not None and due <= self.sim.now:
            self._handle_timer(self.sim.now)
        self._pump()

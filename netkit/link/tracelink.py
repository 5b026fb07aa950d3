"""`TraceLink`: a trace-driven link byte-exact with Mahimahi's mm-link (LinkQueue).

Rules (see docs/mahimahi.md): each trace line is one delivery opportunity of 1504
bytes; a packet costs its IP length + 4; bytes are accounted per byte, an
opportunity may carry several packets and a packet may span opportunities, unused
bytes are lost; a packet departs at the opportunity that carries its last byte,
and only opportunities strictly later than its arrival millisecond serve it; the
trace loops with the base advancing by the last timestamp.

mm-link processes opportunities eagerly once per millisecond. This class does the
same work lazily: before every arrival and at every wake-up it processes all
opportunities up to that millisecond ("rationalize"), and `next_time()` predicts
the next departure so a driver only wakes when something can leave.
"""
from __future__ import annotations

from typing import Callable, Final

from netkit.link.log import LinkLog
from netkit.link.packet import TUN_HEADER_BYTES, Packet
from netkit.link.queues import DropTailQueue, InfiniteQueue, PacketQueue, make_queue
from netkit.link.stats import ElementStats
from netkit.trace.model import OPPORTUNITY_BYTES as _OPPORTUNITY_BYTES, Trace

OPPORTUNITY_BYTES: Final[int] = _OPPORTUNITY_BYTES


class PacketTooLarge(ValueError):
    """A packet larger than one opportunity (mm-link: 'packet size is greater than maximum')."""


class TraceLink:
    """A link whose delivery opportunities come from a `Trace`, feeding from a queue."""

    def __init__(self, trace: Trace, queue: PacketQueue | str | None = None, log: LinkLog | None = None) -> None:
        self.trace = trace
        self.queue = make_queue(queue)
        self.log = log
        self.stats = ElementStats()
        # the schedule, held here so the per-opportunity lookup is local (same rule as Trace.opportunity_ms)
        self._ts: tuple[int, ...] = tuple(trace.timestamps)
        self._n = len(self._ts)
        self._period = self._ts[-1]
        self._k = 0  # index of the next unprocessed opportunity, across loops
        self._next_ms = self._opportunity_ms(0)
        self._in_transit: Packet | None = None
        self._in_transit_left = 0
        self._out: list[tuple[int, Packet]] = []
        self.on_drop: Callable[[Packet, int], None] | None = None

    def _opportunity_ms(self, k: int) -> int:
        if k < self._n:
            return self._ts[k]
        wraps, index = divmod(k, self._n)
        return wraps * self._period + self._ts[index]

    # -- the element interface -------------------------------------------------
    def enqueue(self, pkt: Packet, now: int) -> None:
        """A packet arrives at `now` µs: process the link up to this millisecond, then queue it."""
        wire = pkt.size + TUN_HEADER_BYTES
        if wire > OPPORTUNITY_BYTES:
            raise PacketTooLarge(f"packet of {pkt.size} IP bytes exceeds the link's {OPPORTUNITY_BYTES - 4}-byte MTU")
        now_ms = now // 1000
        self._rationalize(now_ms)
        st = self.stats
        st.packets_in += 1
        st.bytes_in += pkt.size
        if self.log:
            self.log.arrival(now_ms, wire)
        pkt.arrival = now
        dropped = self.queue.enqueue(pkt, now)
        if dropped:
            self._record_drops(now_ms, dropped)

    def next_time(self) -> int | None:
        """When the next packet can leave (µs), assuming no further arrivals; None if idle."""
        t = self.next_time_us()
        return None if t < 0 else t

    def next_time_us(self) -> int:
        """`next_time()` with -1 for idle (no boxing in the compiled simulator)."""
        if self._out:
            return self._out[0][0]
        if self._in_transit is not None:
            extra = (self._in_transit_left - 1) // OPPORTUNITY_BYTES
            return self._opportunity_ms(self._k + extra) * 1000
        if len(self.queue):
            return self._next_ms * 1000
        return -1

    def dequeue(self, now: int) -> list[tuple[int, Packet]]:
        """Process the link up to `now` and hand over every packet that departed."""
        self._rationalize(now // 1000)
        out = self._out
        self._out = []
        return out

    @property
    def queued_bytes(self) -> int:
        """Bytes (IP lengths) held in the queue and in transit, not yet departed."""
        q = self.queue.bytes - TUN_HEADER_BYTES * len(self.queue)
        if self._in_transit is not None:
            q += self._in_transit.size
        return q

    # -- mm-link's LinkQueue::rationalize -------------------------------------
    def _rationalize(self, now_ms: int) -> None:
        queue = self.queue
        # droptail and infinite queues drop nothing at dequeue: take the head without the general call
        fifo = type(queue) is DropTailQueue or type(queue) is InfiniteQueue
        pkt: Packet | None
        log = self.log
        while self._next_ms <= now_ms:
            if self._in_transit is None and not len(queue):
                self._skip_idle(now_ms)
                return
            t_ms = self._next_ms
            if log:
                log.opportunity(t_ms, OPPORTUNITY_BYTES)
            self._k += 1
            self._next_ms = self._opportunity_ms(self._k)
            left = OPPORTUNITY_BYTES
            t_us = t_ms * 1000
            while left > 0:
                if self._in_transit is None:
                    if fifo:
                        if not len(queue):
                            break
                        pkt = queue._pop()
                    else:
                        pkt, dropped = queue.dequeue(t_us)
                        if dropped:
                            self._record_drops(t_ms, dropped)
                        if pkt is None:
                            break
                    self._in_transit = pkt
                    self._in_transit_left = pkt.size + TUN_HEADER_BYTES
                amount = min(left, self._in_transit_left)
                self._in_transit_left -= amount
                left -= amount
                if self._in_transit_left == 0:
                    self._depart(t_ms, self._in_transit)
                    self._in_transit = None

    def _skip_idle(self, now_ms: int) -> None:
        """Burn the opportunities up to `now_ms` that find the link empty."""
        k_next = self.trace.first_opportunity_after(now_ms)
        if self.log:
            for k in range(self._k, k_next):
                self.log.opportunity(self._opportunity_ms(k), OPPORTUNITY_BYTES)
        self._k = k_next
        self._next_ms = self._opportunity_ms(k_next)

    def _depart(self, t_ms: int, pkt: Packet) -> None:
        st = self.stats
        st.packets_out += 1
        st.bytes_out += pkt.size
        if self.log:
            self.log.departure(t_ms, pkt.size + TUN_HEADER_BYTES, t_ms - pkt.arrival // 1000)
        self._out.append((t_ms * 1000, pkt))

    def _record_drops(self, t_ms: int, dropped: list[Packet]) -> None:
        st = self.stats
        st.packets_dropped += len(dropped)
        st.bytes_dropped += sum(p.size for p in dropped)
        if self.on_drop is not None:
            for p in dropped:
                self.on_drop(p, t_ms * 1000)
        if self.log:
            self.log.drop(t_ms, len(dropped), sum(p.size + TUN_HEADER_BYTES for p in dropped))

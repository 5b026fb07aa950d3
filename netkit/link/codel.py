"""CoDel as Mahimahi's `codel_packet_queue.cc` runs it (`--queue codel:packets=N,target=MS,interval=MS`).

Mahimahi's clock is integer milliseconds, so decisions here use `now // 1000` and
`pkt.arrival // 1000`, which is what mm-link's `timestamp()` would have read at the
same instants. Two Mahimahi quirks are kept on purpose, because they change which
packets a run loses:

- Its dequeue must return a packet, so the head packet is always sent and the
  packets dropped are the ones *behind* it (each drop pops the next packet).
- No drop decision is made when the packet taken is the last one, or when at most
  one full packet (1504 bytes) would remain queued.
"""
from __future__ import annotations

import math

from netkit.link.aqm_args import int_arg, limits, require
from netkit.link.packet import Packet
from netkit.link.queues import _LimitedQueue, register_queue

# mm-link's largest packet: a 1500-byte IP packet plus its 4-byte TUN header.
MAHIMAHI_PACKET_SIZE = 1504
_MS = "a positive integer number of milliseconds"


class CoDelQueue(_LimitedQueue):
    """Controlled Delay AQM with Mahimahi's limits (tail drop on enqueue) and dequeue-time drops.

    `target` and `interval` are integer milliseconds and both required, as in Mahimahi.
    The CoDel state (`dropping`, `count`, `drop_next`, `first_above_time`, all in ms)
    is public for inspection.
    """

    name = "codel"

    def __init__(
        self,
        packets: int = 0,
        bytes: int = 0,  # noqa: A002 - Mahimahi's argument name
        target: int | None = None,
        interval: int | None = None,
    ) -> None:
        packets, bytes = limits(self.name, packets, bytes)
        super().__init__(packets=packets, bytes=bytes)
        self.target = int_arg(self.name, "target", require(self.name, "target", target, _MS), 1, _MS)
        self.interval = int_arg(self.name, "interval", require(self.name, "interval", interval, _MS), 1, _MS)
        self.first_above_time = 0  # 0 means "not above target"
        self.drop_next = 0
        self.count = 0
        self.lastcount = 0
        self.dropping = False

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        if self.good_with(self.bytes + pkt.size + 4, len(self._q) + 1):
            self._accept(pkt)
            return []
        return [pkt]

    def control_law(self, t: int, count: int) -> int:
        """Next drop time (ms): `t + interval / sqrt(count)`, truncated to whole ms as Mahimahi does."""
        return t + int(self.interval / math.sqrt(count))

    def _dodequeue(self, now_ms: int) -> tuple[Packet, bool]:
        pkt = self._pop()
        if not self._q:
            self.first_above_time = 0
            return pkt, False
        sojourn = now_ms - pkt.arrival // 1000
        if sojourn < self.target or self.bytes <= MAHIMAHI_PACKET_SIZE:
            self.first_above_time = 0
            return pkt, False
        if self.first_above_time == 0:
            self.first_above_time = now_ms + self.interval
            return pkt, False
        return pkt, now_ms >= self.first_above_time

    def dequeue(self, now: int) -> tuple[Packet | None, list[Packet]]:
        if not self._q:
            return None, []
        now_ms = now // 1000
        pkt, ok_to_drop = self._dodequeue(now_ms)
        dropped: list[Packet] = []
        if self.dropping:
            if not ok_to_drop:
                self.dropping = False
            # ok_to_drop implies packets remain, so every pop below finds one.
            while self.dropping and now_ms >= self.drop_next:
                victim, still_ok = self._dodequeue(now_ms)
                dropped.append(victim)
                self.count += 1
                if still_ok:
                    self.drop_next = self.control_law(self.drop_next, self.count)
                else:
                    self.dropping = False
        elif ok_to_drop:
            victim, _ = self._dodequeue(now_ms)
            dropped.append(victim)
            self.dropping = True
            delta = self.count - self.lastcount
            # Mahimahi computes now - drop_next in uint64: a drop_next in the future wraps to "not recent".
            recent = 0 <= now_ms - self.drop_next < 16 * self.interval
            self.count = delta if delta > 1 and recent else 1
            self.drop_next = self.control_law(now_ms, self.count)
            self.lastcount = self.count
        return pkt, dropped


register_queue(CoDelQueue.name, CoDelQueue)

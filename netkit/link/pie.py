"""PIE as Mahimahi's `pie_packet_queue.cc` runs it (`--queue pie:packets=N,qdelay_ref=MS,max_burst=MS`).

Mahimahi has no timer here either: at each enqueue and dequeue it runs the 30 ms
probability updates it missed, as long as `now - last_update > 30` (strictly), on a
millisecond clock that starts at 0. We mirror that, including its order: enqueue
catches up before deciding, dequeue catches up after taking the packet and updating
the departure-rate estimate. Times are `now // 1000` (mm-link's `timestamp()`).

Random early drops draw from `random.Random(seed)` instead of Mahimahi's
`random_device`, so runs repeat.
"""
from __future__ import annotations

import random

from netkit.link.aqm_args import int_arg, limits, require
from netkit.link.packet import Packet
from netkit.link.queues import _LimitedQueue, register_queue

MAHIMAHI_PACKET_SIZE = 1504
_MS = "a positive integer number of milliseconds"


class PieQueue(_LimitedQueue):
    """Proportional Integral controller Enhanced, with Mahimahi's constants and integer arithmetic.

    `qdelay_ref` (target queueing delay) and `max_burst` are integer milliseconds and
    both required, as in Mahimahi. State such as `drop_prob`, `current_qdelay` (ms),
    `avg_dq_rate` (bytes/ms) and `burst_allowance` (ms) is public for inspection.
    """

    name = "pie"
    ALPHA = 0.125
    BETA = 1.25
    T_UPDATE_MS = 30
    DQ_THRESHOLD = 16384  # bytes

    def __init__(
        self,
        packets: int = 0,
        bytes: int = 0,  # noqa: A002 - Mahimahi's argument name
        qdelay_ref: int | None = None,
        max_burst: int | None = None,
        seed: int = 0,
    ) -> None:
        packets, bytes = limits(self.name, packets, bytes)
        super().__init__(packets=packets, bytes=bytes)
        self.qdelay_ref = int_arg(
            self.name, "qdelay_ref", require(self.name, "qdelay_ref", qdelay_ref, _MS), 1, _MS
        )
        self.max_burst = int_arg(
            self.name, "max_burst", require(self.name, "max_burst", max_burst, _MS), 1, _MS
        )
        self.seed = int_arg(self.name, "seed", seed, -(2**63), "an integer random seed")
        self._rng = random.Random(self.seed)
        self.drop_prob = 0.0
        self.burst_allowance = 0
        self.qdelay_old = 0
        self.current_qdelay = 0
        self.dq_count: int | None = None  # None is Mahimahi's DQ_COUNT_INVALID: not measuring
        self.dq_tstamp = 0
        self.avg_dq_rate = 0
        self.last_update = 0

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        self._catch_up(now // 1000)
        if not self.good_with(self.bytes + pkt.size + 4, len(self._q) + 1):
            return [pkt]
        if self._drop_early():
            return [pkt]
        self._accept(pkt)
        return []

    def _drop_early(self) -> bool:
        if self.burst_allowance > 0:
            return False
        if self.qdelay_old < self.qdelay_ref // 2 and self.drop_prob < 0.2:
            return False
        if self.bytes < 2 * MAHIMAHI_PACKET_SIZE:
            return False
        return self._rng.random() < self.drop_prob

    def dequeue(self, now: int) -> tuple[Packet | None, list[Packet]]:
        if not self._q:
            return None, []
        now_ms = now // 1000
        pkt = self._pop()
        self._measure_rate(pkt, now_ms)
        self._catch_up(now_ms)
        return pkt, []

    def _measure_rate(self, pkt: Packet, now_ms: int) -> None:
        if self.bytes >= self.DQ_THRESHOLD and self.dq_count is None:
            self.dq_tstamp = now_ms
            self.dq_count = 0
        if self.dq_count is None:
            return
        self.dq_count += pkt.size + 4
        if self.dq_count <= self.DQ_THRESHOLD:
            return
        dtime = now_ms - self.dq_tstamp
        if dtime <= 0:
            return
        rate_sample = self.dq_count // dtime
        if self.avg_dq_rate == 0:
            self.avg_dq_rate = rate_sample
        else:
            self.avg_dq_rate = (self.avg_dq_rate - (self.avg_dq_rate >> 3)) + (rate_sample >> 3)
        if self.bytes < self.DQ_THRESHOLD:
            self.dq_count = None
        else:
            self.dq_count = 0
            self.dq_tstamp = now_ms
        if self.burst_allowance > 0:
            self.burst_allowance = max(0, self.burst_allowance - dtime)

    def _state(self) -> tuple:
        return (self.drop_prob, self.burst_allowance, self.qdelay_old, self.current_qdelay,
                self.dq_count, self.avg_dq_rate)

    def _catch_up(self, now_ms: int) -> None:
        period = self.T_UPDATE_MS
        while now_ms - self.last_update > period:
            before = self._state()
            self._update()
            if self._state() == before:
                # An update depends only on this state and the (unchanged) backlog, so the
                # remaining ones are no-ops too: skip to where the last of them would leave us.
                remaining = now_ms - self.last_update - period
                if remaining > 0:
                    self.last_update += -(-remaining // period) * period
                return

    def _update(self) -> None:
        """One periodic drop-probability update (Mahimahi's loop body of `calculate_drop_prob`)."""
        update_prob = True
        self.qdelay_old = self.current_qdelay
        self.current_qdelay = self.bytes // self.avg_dq_rate if self.avg_dq_rate > 0 else 0
        if self.current_qdelay == 0 and self.bytes != 0:
            update_prob = False

        p = self.ALPHA * (self.current_qdelay - self.qdelay_ref) + self.BETA * (
            self.current_qdelay - self.qdelay_old
        )
        if self.drop_prob < 0.01:
            p /= 128
        elif self.drop_prob < 0.1:
            p /= 32
        else:
            p /= 16
        self.drop_prob += p
        if self.drop_prob < 0:
            self.drop_prob = 0.0
        elif self.drop_prob > 1:
            self.drop_prob = 1.0
            update_prob = False

        if self.current_qdelay == 0 and self.qdelay_old == 0 and update_prob:
            self.drop_prob *= 0.98

        self.burst_allowance = max(0, self.burst_allowance - self.T_UPDATE_MS)
        self.last_update += self.T_UPDATE_MS

        half_ref = self.qdelay_ref // 2
        if (
            self.drop_prob == 0
            and self.current_qdelay < half_ref
            and self.qdelay_old < half_ref
            and self.avg_dq_rate > 0
        ):
            self.dq_count = None
            self.avg_dq_rate = 0
            self.burst_allowance = self.max_burst


register_queue(PieQueue.name, PieQueue)

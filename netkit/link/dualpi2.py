"""DualPI2: the RFC 9332 DualQ Coupled AQM, following Linux `sch_dualpi2` (`--queue dualpi2[:key=val,...]`).

Two FIFOs share one limit: L (L4S: ECT(1) and CE by default) and C (classic). A PI
controller updates a base probability p' every `tupdate` from the larger head sojourn
of the two queues:

    p' += alpha * (qdelay - target) + beta * (qdelay - prev_qdelay)     (delays in s)

clamped to [0, 1]. As in RFC 9332 Appendix A and Linux, alpha and beta (Hz) are the
gains applied once per update; Linux's defaults 0.16 and 3.2 already fold in the
16 ms update interval. Classic packets see p_C = p'^2 (drop Not-ECT, mark ECT), L4S
packets see p_CL = k * p' plus a step marker at `step_thresh` of sojourn. When
k * p' > 1 the queue is overloaded: classic packets are dropped with p_C whatever
their ECN, and (with `drop_on_overload`) L4S packets too, the rest of L4S being
marked. No probabilistic action is taken while less than 2 MTU is queued.

AQM decisions happen at dequeue (Linux's default), the updates run lazily at each
call for every tick time `n * tupdate <= now`, and a WRR credit scheduler gives the
C queue `c_protection` percent of the bytes when both queues are backlogged.
"""
from __future__ import annotations

import random
from collections import deque
from typing import Callable

from netkit.link.aqm_args import int_arg, number_arg
from netkit.link.packet import CE, NOT_ECT, Packet
from netkit.link.queues import PacketQueue, QueueSpecError, register_queue

MTU = 1500
L_QUEUE = "L"
C_QUEUE = "C"
# ECN bits that send a packet to the L queue (Linux's ecn_mask).
CLASSIFICATIONS = {"l4s_ect": 0b01, "any_ect": 0b11}

DepartHook = Callable[[Packet, str, int], None]


def _ms_to_us(queue: str, name: str, value: object, *, positive: bool = False) -> int:
    expected = "a number of milliseconds > 0" if positive else "a number of milliseconds >= 0"
    ms = number_arg(queue, name, value, expected, minimum=0.0, positive=positive)
    us = round(ms * 1000)
    if positive and us < 1:
        raise QueueSpecError(f"{queue}: {name}={value!r} is not valid; expected at least 0.001 ms")
    return us


class DualPI2Queue(PacketQueue):
    """DualQ Coupled AQM with Linux `sch_dualpi2` defaults; every option is a keyword argument.

    Times in arguments are milliseconds (`target`, `tupdate`, `step_thresh`); give
    `step_packets=N` instead of `step_thresh` to step-mark on L queue length. `limit`
    counts packets in both queues. `seed` seeds the marking/dropping randomness.
    `on_depart(pkt, "L" | "C", sojourn_us)`, when set, is called for every packet
    `dequeue` returns (not for packets the AQM drops). Observers added with
    `add_observer` (a queue monitor, say) see the same departures and every drop
    (`on_drop(pkt, "L" | "C", now)`), without taking the `on_depart` slot.
    """

    name = "dualpi2"

    def __init__(
        self,
        limit: int = 10000,
        target: float = 15,
        tupdate: float = 16,
        alpha: float = 0.16,
        beta: float = 3.2,
        coupling: float = 2,
        step_thresh: float | None = None,
        step_packets: int | None = None,
        min_qlen_step: int = 0,
        c_protection: float = 10,
        drop_on_overload: int = 1,
        classification: str = "l4s_ect",
        seed: int = 0,
    ) -> None:
        super().__init__()
        q = self.name
        self.limit = int_arg(q, "limit", limit, 1, "a packet limit, an integer >= 1")
        self.target_us = _ms_to_us(q, "target", target)
        self.tupdate_us = _ms_to_us(q, "tupdate", tupdate, positive=True)
        self.alpha = number_arg(q, "alpha", alpha, "a gain in Hz > 0", positive=True)
        self.beta = number_arg(q, "beta", beta, "a gain in Hz > 0", positive=True)
        self.coupling = number_arg(q, "coupling", coupling, "a coupling factor k > 0", positive=True)
        if step_thresh is not None and step_packets is not None:
            raise QueueSpecError(f"{q}: give step_thresh=MS or step_packets=N, not both")
        self.step_packets = None
        self.step_thresh_us = 0
        if step_packets is not None:
            self.step_packets = int_arg(q, "step_packets", step_packets, 1, "a packet count, an integer >= 1")
        else:
            self.step_thresh_us = _ms_to_us(q, "step_thresh", 1 if step_thresh is None else step_thresh)
        self.min_qlen_step = int_arg(q, "min_qlen_step", min_qlen_step, 0, "a packet count, an integer >= 0")
        self.c_protection = number_arg(
            q, "c_protection", c_protection, "a percentage from 0 to 100", minimum=0, maximum=100
        )
        if drop_on_overload not in (0, 1) or isinstance(drop_on_overload, float):
            raise QueueSpecError(f"{q}: drop_on_overload={drop_on_overload!r} is not valid; expected 0 or 1")
        self.drop_on_overload = bool(drop_on_overload)
        if classification not in CLASSIFICATIONS:
            known = ", ".join(CLASSIFICATIONS)
            raise QueueSpecError(f"{q}: classification={classification!r} is not valid; expected {known}")
        self.classification = classification
        self._ecn_mask = CLASSIFICATIONS[classification]
        self.seed = int_arg(q, "seed", seed, -(2**63), "an integer random seed")
        self._rng = random.Random(self.seed)

        # self._q (from PacketQueue) is the C queue; L entries carry Linux's per-packet apply_step flag.
        self._l: deque[tuple[Packet, bool]] = deque()
        self._wc = self.c_protection
        self._wl = 100 - self.c_protection
        self._credit_init = MTU * (self._wc - self._wl)
        self._credit = self._credit_init
        self._p = 0.0
        self._last_qdelay = 0.0
        self._next_tick = self.tupdate_us
        self.on_depart: DepartHook | None = None
        self._observers: list = []
        counters = ("packets_in_c", "packets_in_l", "maxq", "ecn_mark", "step_marks", "drops")
        self._counters = dict.fromkeys(counters + ("delay_c", "delay_l"), 0)

    def add_observer(self, observer) -> None:
        """Call `observer.on_depart(pkt, "L" | "C", sojourn_us)` for every departure and
        `observer.on_drop(pkt, "L" | "C", now)` for every drop (limit or AQM)."""
        self._observers.append(observer)

    # --- sizes -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._q) + len(self._l)

    @property
    def packets(self) -> int:
        """Packets queued in L and C together."""
        return len(self._q) + len(self._l)

    @property
    def c_packets(self) -> int:
        """Packets in the classic queue."""
        return len(self._q)

    @property
    def l_packets(self) -> int:
        """Packets in the L4S queue."""
        return len(self._l)

    def peek(self) -> Packet | None:
        """The packet the scheduler would take next (before any AQM decision)."""
        if self._l and (not self._q or self._credit <= 0):
            return self._l[0][0]
        return self._q[0] if self._q else None

    # --- probabilities ---------------------------------------------------------------------------

    @property
    def prob(self) -> float:
        """The PI controller's base probability p'; settable (clamped to [0, 1]) to start from a state."""
        return self._p

    @prob.setter
    def prob(self, value: float) -> None:
        self._p = min(max(float(value), 0.0), 1.0)

    @property
    def p_c(self) -> float:
        """Classic drop/mark probability p_C = p'^2."""
        return self._p * self._p

    @property
    def p_cl(self) -> float:
        """Coupled L4S marking probability p_CL = k * p' (capped at 1)."""
        return min(self.coupling * self._p, 1.0)

    @property
    def overloaded(self) -> bool:
        """True when k * p' > 1 (Linux: the coupled L probability exceeds 100 %)."""
        return self.coupling * self._p > 1.0

    def _update(self, t: int) -> None:
        """One PI update at tick time `t` (µs)."""
        qdelay_c = t - self._q[0].arrival if self._q else 0
        qdelay_l = t - self._l[0][0].arrival if self._l else 0
        qdelay = max(qdelay_c, qdelay_l) / 1e6
        p = self._p + self.alpha * (qdelay - self.target_us / 1e6) + self.beta * (qdelay - self._last_qdelay)
        self._last_qdelay = qdelay
        p = min(max(p, 0.0), 1.0)
        if not self.drop_on_overload:
            # Linux caps p' so that p_CL stays <= 100 %: ECN keeps its no-loss promise, the limit tail-drops.
            p = min(p, 1.0 / self.coupling)
        self._p = p

    def _catch_up(self, now: int) -> None:
        period = self.tupdate_us
        while self._next_tick <= now:
            idle = not self._q and not self._l
            before = (self._p, self._last_qdelay)
            self._update(self._next_tick)
            self._next_tick += period
            if idle and (self._p, self._last_qdelay) == before and self._next_tick <= now:
                # Empty queues and a fixed point: the remaining updates change nothing.
                self._next_tick += ((now - self._next_tick) // period + 1) * period

    # --- enqueue / dequeue -----------------------------------------------------------------------

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        self._catch_up(now)
        stats = self._counters
        if len(self) >= self.limit:
            stats["drops"] += 1
            for obs in self._observers:
                obs.on_drop(pkt, L_QUEUE if pkt.ecn & self._ecn_mask else C_QUEUE, now)
            return [pkt]
        stats["maxq"] = max(stats["maxq"], len(self))
        self.bytes += pkt.size + 4
        if pkt.ecn & self._ecn_mask:
            self._l.append((pkt, len(self._l) >= self.min_qlen_step))
            stats["packets_in_l"] += 1
        else:
            self._q.append(pkt)
            stats["packets_in_c"] += 1
        return []

    def _schedule(self) -> tuple[Packet, bool, bool, float] | None:
        """WRR pick: (packet, in_l, apply_step, credit change to apply if it is sent), or None."""
        c_len, l_len = len(self._q), len(self._l)
        if l_len and (not c_len or self._credit <= 0):
            pkt, apply_step = self._l.popleft()
            change = self._wc if c_len else 0
            in_l = True
        elif c_len:
            pkt, apply_step = self._q.popleft(), False
            change = -self._wl if l_len else 0
            in_l = False
        else:
            self._credit = self._credit_init
            return None
        self.bytes -= pkt.size + 4
        return pkt, in_l, apply_step, change * (pkt.size + 4)

    def dequeue(self, now: int) -> tuple[Packet | None, list[Packet]]:
        self._catch_up(now)
        dropped: list[Packet] = []
        while (picked := self._schedule()) is not None:
            pkt, in_l, apply_step, credit_change = picked
            sojourn = now - pkt.arrival
            self._counters["delay_l" if in_l else "delay_c"] = sojourn
            if self._must_drop(pkt, in_l) or (in_l and apply_step and self._step_drop(pkt, sojourn)):
                self._counters["drops"] += 1
                dropped.append(pkt)
                for obs in self._observers:
                    obs.on_drop(pkt, L_QUEUE if in_l else C_QUEUE, now)
                continue
            self._credit += credit_change
            if self.on_depart is not None:
                self.on_depart(pkt, L_QUEUE if in_l else C_QUEUE, sojourn)
            for obs in self._observers:
                obs.on_depart(pkt, L_QUEUE if in_l else C_QUEUE, sojourn)
            return pkt, dropped
        return None, dropped

    def _roll(self, prob: float) -> bool:
        return prob > 0 and self._rng.random() < prob

    def _mark(self, pkt: Packet) -> bool:
        if pkt.ecn == NOT_ECT:
            return False
        pkt.ecn = CE
        self._counters["ecn_mark"] += 1
        return True

    def _must_drop(self, pkt: Packet, in_l: bool) -> bool:
        """Linux's must_drop: apply p_C / p_CL (marking what can be marked); True means drop."""
        if self.bytes < 2 * MTU:
            return False
        overload = self.overloaded
        if not in_l:
            if self._roll(self.p_c):
                if overload or pkt.ecn == NOT_ECT:
                    return True
                self._mark(pkt)
            return False
        if overload:
            if self.drop_on_overload and self._roll(self.p_c):
                return True
            self._mark(pkt)
            return False
        if self._roll(self.p_cl):
            if pkt.ecn == NOT_ECT:
                return True
            self._mark(pkt)
        return False

    def _step_drop(self, pkt: Packet, sojourn: int) -> bool:
        """The L queue's step AQM: mark above the threshold (Linux: qdelay > step_thresh); True means drop (a Not-ECT packet)."""
        if self.step_packets is not None:
            above = len(self._l) > self.step_packets
        else:
            above = sojourn > self.step_thresh_us
        if not above:
            return False
        if pkt.ecn == NOT_ECT:
            return True
        if self._mark(pkt):
            self._counters["step_marks"] += 1
        return False

    # --- reporting -------------------------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Counters under Linux's xstats names, plus `drops`.

        prob: p'; delay_c / delay_l: sojourn (µs) of the last packet taken from C / L;
        packets_in_c / packets_in_l: packets ever enqueued in C / L; maxq: largest backlog
        (packets) an arriving packet found; ecn_mark: CE marks made, step ones included
        (Linux counts them so); step_marks: marks by the step; credit: the WRR credit;
        drops: packets dropped (limit and AQM).
        """
        return {"prob": self._p, **self._counters, "credit": self._credit}

    def describe(self) -> str:
        step = (
            f"step_packets={self.step_packets}"
            if self.step_packets is not None
            else f"step_thresh={self.step_thresh_us / 1000:g}ms"
        )
        return (
            f"{self.name} [limit={self.limit}, target={self.target_us / 1000:g}ms, "
            f"tupdate={self.tupdate_us / 1000:g}ms, alpha={self.alpha:g}, beta={self.beta:g}, "
            f"coupling={self.coupling:g}, {step}, min_qlen_step={self.min_qlen_step}, "
            f"c_protection={self.c_protection:g}%, drop_on_overload={int(self.drop_on_overload)}, "
            f"classification={self.classification}]"
        )


register_queue(DualPI2Queue.name, DualPI2Queue)

"""What a packet entering the bottleneck now would meet in each DualPI2 queue, read from the simulator's own state.

`BottleneckView` looks at the running simulation of one bottleneck direction: the
`TraceLink` (its next delivery opportunities, the packet in transmission), the
DualPI2 queue's two FIFOs and its WRR credit, and the packets already on their way
to it (the direction's leading propagation delay holds them as scheduled events).
`delays_us(t_enter, size)` replays that state forward with the link's and the
scheduler's own rules (trace opportunities of 1504 bytes, a packet served only by
opportunities strictly after its arrival millisecond, L first unless the C queue
has credit, C's `c_protection` share while both are backlogged) once with a packet
of `size` bytes added to L at `t_enter` and once added to C, and returns when it
would leave each (µs after `t_enter`).

It includes everything the bottleneck will hold up to `t_enter`: every flow's
packets, the measured flow's own earlier ones (its self-congestion) included. What
it cannot know is what other senders will send after now: later L arrivals that
would take C's place at the scheduler (so C's figure is a lower bound when L keeps
being fed), and which packets ahead the AQM will drop: each is counted at its
expected cost, its wire size times the chance it survives the queue's present drop
probability (p_C for classic Not-ECT packets, and for any packet under overload).
With `future` (the arrivals recorded in the per-flow L4S run of the same experiment and
seed) it also replays what the other senders send after `t_enter`: the first of the
two gaps closed, as far as another run can tell. Simulator only: the live link runs
in another process.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from netkit.link.packet import NOT_ECT

OPPORTUNITY_BYTES = 1504
WIRE_EXTRA = 4  # a packet costs its IP length + 4 on the link and in the WRR credit (TUN header)


FUTURE_HORIZON_US = 1_000_000  # how far past the probe's entry recorded future arrivals are replayed


class ArrivalLog:
    """An observer of a DualPI2 queue that records every packet it took in: (arrival µs, link bytes it cost,
    into L, flow); a packet the AQM or the limit dropped cost no link time (0 bytes)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, bool, int]] = []

    def on_depart(self, pkt: Any, queue_name: str, sojourn_us: int) -> None:
        """A departure."""
        self.rows.append((pkt.arrival, pkt.size + WIRE_EXTRA, queue_name == "L", pkt.flow))

    def on_drop(self, pkt: Any, queue_name: str, now: int) -> None:
        """A drop (limit at enqueue, AQM at dequeue)."""
        self.rows.append((pkt.arrival, 0, queue_name == "L", pkt.flow))

    def array(self) -> np.ndarray:
        """(N, 4) int64 rows sorted by arrival time (stable)."""
        a = np.array(self.rows, dtype=np.int64).reshape(-1, 4)
        return a[np.argsort(a[:, 0], kind="stable")]


class BottleneckView:
    """The state of one simulated bottleneck (a `netkit.sim.pipe.Pipe` whose core is a TraceLink with DualPI2).

    `future`: optionally, the arrivals at this bottleneck recorded in another run of the same experiment
    (`ArrivalLog.array()`), of flows other than `own_flow`; those after a probe's entry are replayed too, so
    that later L traffic takes C's share as it will (the other senders barely react to one 0.6 Mbit/s flow)."""

    def __init__(self, sim: Any, pipe: Any, future: np.ndarray | None = None, own_flow: int | None = None) -> None:
        link = pipe.core
        queue = getattr(link, "queue", None)
        if queue is None or not hasattr(queue, "l_packets"):
            raise ValueError("the oracle needs a DualPI2 bottleneck (queue = \"dualpi2\") with a trace")
        self.sim = sim
        self.pipe = pipe
        self.link = link
        self.queue = queue
        self.pre_delay_us = int(pipe.pre_delay_us)
        self._mask = int(queue._ecn_mask)
        self.lookaheads = 0
        self.future = None if future is None else future[future[:, 3] != own_flow]

    def _cost(self, size: int, ecn: int, into_l: bool) -> float:
        """Expected link bytes of a queued packet: its wire size times the chance that the AQM does not drop it
        at dequeue with today's probability (classic: p_C for Not-ECT, and for ECT under overload; L: p_C under
        overload with drop_on_overload; marks cost nothing)."""
        q = self.queue
        wire = size + WIRE_EXTRA
        if into_l:
            drop = q.p_c if q.overloaded and q.drop_on_overload else 0.0
        else:
            drop = q.p_c if (ecn == NOT_ECT or q.overloaded) else 0.0
        return wire * (1.0 - drop)

    def _arrivals(self, until_us: int) -> list[tuple[int, float, bool]]:
        """(time, expected wire bytes, into L) of the packets scheduled to enter the bottleneck by `until_us`."""
        enter = self.pipe._enter_all_cb
        out: list[tuple[int, float, bool]] = []
        buckets = self.sim._buckets
        for t in sorted(k for k in buckets if k <= until_us):
            b = buckets[t]
            for i in range(0, len(b), 3):
                if b[i] == enter:
                    for p in b[i + 1]:
                        into_l = bool(p.ecn & self._mask)
                        out.append((t, self._cost(p.size, p.ecn, into_l), into_l))
        return out

    def delays_us(self, t_enter: int, size: int) -> tuple[int, int]:
        """(L, C): µs from `t_enter` until a packet of `size` IP bytes entering L, resp. C, at `t_enter` has left."""
        arrivals = self._arrivals(t_enter)
        later: list[tuple[int, float, bool]] = []
        if self.future is not None:
            f = self.future
            lo, hi = np.searchsorted(f[:, 0], [t_enter, t_enter + FUTURE_HORIZON_US], side="right")
            later = [(int(t), float(b), bool(q)) for t, b, q in f[lo:hi, :3].tolist()]
        q = self.queue
        lq = [self._cost(p.size, p.ecn, True) for p, _ in q._l]
        cq = [self._cost(p.size, p.ecn, False) for p in q._q]
        self.lookaheads += 1
        wire = float(size + WIRE_EXTRA)
        return (self._replay(lq, cq, arrivals, later, t_enter, wire, True) - t_enter,
                self._replay(lq, cq, arrivals, later, t_enter, wire, False) - t_enter)

    def _replay(self, l0: list[float], c0: list[float], arrivals: list[tuple[int, float, bool]],
                later: list[tuple[int, float, bool]], t_probe: int, probe: float, probe_l: bool) -> int:
        """When the probe (`probe` wire bytes, entering L if `probe_l`, at `t_probe`) leaves the link (µs), the
        queues starting from `l0`, `c0` (expected wire bytes of what they hold), fed by `arrivals` (up to the
        probe) and `later` (after it)."""
        link, q = self.link, self.queue
        lq, cq = list(l0), list(c0)
        lq_ids = [False] * len(lq)  # True marks the probe
        cq_ids = [False] * len(cq)
        li = ci = 0  # heads of lq / cq
        credit = float(q._credit)
        wc, wl, credit_init = q._wc, q._wl, q._credit_init
        k = link._k
        t_ms = link._next_ms
        transit = float(link._in_transit_left) if link._in_transit is not None else 0.0
        transit_probe = False
        pending = arrivals + [(t_probe, probe, probe_l)] + later
        probe_at = len(arrivals)
        ai = 0
        n_arr = len(pending)
        while True:
            # every packet arriving before this opportunity's millisecond is queued first
            while ai < n_arr and pending[ai][0] // 1000 < t_ms:
                _, wire, into_l = pending[ai]
                (lq if into_l else cq).append(wire)
                (lq_ids if into_l else cq_ids).append(ai == probe_at)
                ai += 1
            if transit <= 0 and li == len(lq) and ci == len(cq):
                if ai >= n_arr:  # pragma: no cover - the probe is always among the arrivals
                    raise AssertionError("the probe left without being seen")
                k = link.trace.first_opportunity_after(pending[ai][0] // 1000)
                t_ms = link._opportunity_ms(k)
                credit = credit_init
                continue
            left = float(OPPORTUNITY_BYTES)
            while left > 0:
                if transit <= 0:
                    l_len, c_len = len(lq) - li, len(cq) - ci
                    if l_len and (not c_len or credit <= 0):
                        transit, transit_probe = lq[li], lq_ids[li]
                        credit += (wc if c_len else 0) * transit
                        li += 1
                    elif c_len:
                        transit, transit_probe = cq[ci], cq_ids[ci]
                        credit -= (wl if l_len else 0) * transit
                        ci += 1
                    else:
                        credit = credit_init
                        break
                amount = min(left, transit)
                transit -= amount
                left -= amount
                if transit <= 0 and transit_probe:
                    return t_ms * 1000
            k += 1
            t_ms = link._opportunity_ms(k)


class LookaheadOracle:
    """SwiftQueue's upper bound: each packet goes to the queue it would leave first given the bottleneck's
    current state (`BottleneckView`), the flow's own packets already there included (ties: L).

    With `stale_us` > 0 it decides on the lookahead as it was `stale_us` ago (the newest computed at a send at
    least that old; L before there is one): an oracle that knows everything about the queues but only as late
    as feedback could tell it (one base RTT), the bound for any predictor of ACK feedback."""

    def __init__(self, fwd_delay_us: int, packet_bytes: int = 1228, stale_us: int = 0) -> None:
        self.fwd_delay_us = fwd_delay_us
        self.packet_bytes = packet_bytes
        self.stale_us = stale_us
        self.view: BottleneckView | None = None
        self.switches = 0
        self._last: bool | None = None
        self._past: deque[tuple[int, bool]] = deque()  # (send time, L faster) of recent sends, for stale_us
        self._stale_choice = True

    def bind(self, view: BottleneckView) -> None:
        """The bottleneck to read (set when the simulator is built, before the first packet)."""
        self.view = view

    def choose(self, now: int) -> bool:
        """L unless a packet entering C now leaves sooner."""
        if self.view is None:
            raise RuntimeError("LookaheadOracle used before bind(): it runs in the simulator only")
        l_us, c_us = self.view.delays_us(now + self.fwd_delay_us, self.packet_bytes)
        in_l = l_us <= c_us
        if self.stale_us > 0:
            self._past.append((now, in_l))
            while self._past and self._past[0][0] <= now - self.stale_us:
                self._stale_choice = self._past.popleft()[1]
            in_l = self._stale_choice
        if self._last is not None and in_l != self._last:
            self.switches += 1
        self._last = in_l
        return in_l

    def observe(self, sample) -> None:
        """The oracle needs no feedback."""


class LookaheadRecorder:
    """A policy wrapper that, at every feedback sample (an ACK: a prediction point), records what a packet sent
    then would meet in each queue (`BottleneckView`, ms): the targets that include the flow's own load."""

    def __init__(self, inner, fwd_delay_us: int, packet_bytes: int = 1228) -> None:
        self.inner = inner
        self.fwd_delay_us = fwd_delay_us
        self.packet_bytes = packet_bytes
        self.view: BottleneckView | None = None
        self.records: list[tuple[int, float, float]] = []  # (ack µs, L ms, C ms)

    def bind(self, view: BottleneckView) -> None:
        """The bottleneck to read."""
        self.view = view

    def choose(self, now: int) -> bool:
        """The wrapped policy's choice."""
        return self.inner.choose(now)

    def observe(self, sample) -> None:
        """Record the lookahead at this ACK, then pass the sample on."""
        if self.view is not None:
            l_us, c_us = self.view.delays_us(sample.ack_us + self.fwd_delay_us, self.packet_bytes)
            self.records.append((sample.ack_us, l_us / 1000.0, c_us / 1000.0))
        self.inner.observe(sample)

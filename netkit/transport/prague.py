"""Prague congestion control (RFC 9331 "Prague requirements"; after Linux `tcp_prague`), sans-I/O.

A scalable controller for L4S: packets carry ECT(1); the fraction of CE-marked
packets is smoothed into `alpha` (EWMA, gain 1/16) once per observation round of
at least one virtual RTT (max(RTT, 25 ms)); on CE the window shrinks by
`cwnd * alpha / 2`, at most once per round trip. Additive increase is scaled by
(RTT / 25 ms)^2 below 25 ms, so short-RTT flows grow their *rate* as a 25 ms flow
would (Linux's RTT-independence; the rate-based form of the "virtual RTT").

Safety with classic bottlenecks: loss halves the window like Reno, and slow
start ends at the first CE (alpha starts at 1, so that first reduction halves too).
"""
from __future__ import annotations

from netkit.link.packet import ECT1, mypyc_attr
from netkit.transport.cc import CONTROLLERS, MIN_WINDOW_PACKETS, CongestionController

VIRTUAL_RTT_US = 25_000
ALPHA_GAIN = 1 / 16


@mypyc_attr(allow_interpreted_subclasses=True)  # swiftqueue's dual-queue Prague subclasses it
class Prague(CongestionController):
    """TCP Prague's window logic: DCTCP-style alpha/2 reduction on CE, Reno fallback on loss.

    `alpha` is the smoothed CE fraction; `virtual_rtt_us` the floor of the
    observation round and of the RTT used by the additive increase.
    """

    name = "prague"
    ecn_codepoint = ECT1

    def __init__(self, mss: int, virtual_rtt_us: int = VIRTUAL_RTT_US, gain: float = ALPHA_GAIN) -> None:
        super().__init__(mss)
        self.virtual_rtt_us = virtual_rtt_us
        self.gain = gain
        self.alpha = 1.0  # Linux starts at the maximum: the first reaction is a conservative halving
        self.alpha_updates = 0
        self._round_start = -1  # µs; the current observation round began here (-1: not started)
        self._round_acked = 0
        self._round_ce = 0

    # -- ECN feedback ------------------------------------------------------------------------
    def on_ce(self, newly_ce: int, acked_packets: int, now: int, rtt_us: int, newest_sent: int) -> None:
        """Count this ACK's CE fraction into the round; reduce by alpha/2 once per RTT on CE."""
        if self._round_start < 0:
            self._round_start = now
        self._round_acked += acked_packets
        self._round_ce += newly_ce
        # A round ends once a packet sent after it began is acknowledged (one RTT) and a
        # virtual RTT has passed, so alpha moves at the same pace for every RTT below 25 ms.
        if newest_sent >= self._round_start and now - self._round_start >= self.virtual_rtt_us:
            self._update_alpha(now)
        if newly_ce and newest_sent > self.recovery_start:
            self.recovery_start = now
            self.ce_events += 1
            self._ce_reduce()

    def _update_alpha(self, now: int) -> None:
        frac = min(self._round_ce / self._round_acked, 1.0) if self._round_acked else 0.0
        self.alpha += self.gain * (frac - self.alpha)
        self.alpha_updates += 1
        self._round_start = now
        self._round_acked = 0
        self._round_ce = 0

    def _ce_reduce(self) -> None:
        floor = float(MIN_WINDOW_PACKETS * self.mss)
        self.cwnd = max(self.cwnd * (1 - self.alpha / 2), floor)
        self.ssthresh = self.cwnd  # leaves slow start at the first CE

    # -- window growth -------------------------------------------------------------------------
    def on_ack(self, acked_bytes: int, now: int, rtt_us: int, min_rtt_us: int, newest_sent: int) -> None:
        """Slow start, then additive increase of (RTT / virtual RTT)^2 MSS per RTT."""
        if newest_sent <= self.recovery_start:
            return
        if self.in_slow_start():
            self.cwnd += acked_bytes
            return
        self.cwnd += self.mss * acked_bytes / self.cwnd * self.ai_scale(rtt_us)

    def ai_scale(self, rtt_us: int) -> float:
        """Share of one MSS per RTT added in congestion avoidance: (RTT / virtual RTT)^2, at most 1."""
        r = min(max(rtt_us, 1) / self.virtual_rtt_us, 1.0)
        return r * r

    # -- loss: classic fallback ----------------------------------------------------------------
    def _reduce(self, now: int) -> None:
        self.ssthresh = max(self.cwnd * 0.5, float(MIN_WINDOW_PACKETS * self.mss))
        self.cwnd = self.ssthresh

    def pacing_rate(self, srtt_us: int) -> float:
        """cwnd / srtt, doubled while cwnd < ssthresh / 2 (Linux tcp_prague's pacing)."""
        factor = 2.0 if self.cwnd < self.ssthresh / 2 else 1.0
        return factor * self.cwnd / max(srtt_us, 1)


CONTROLLERS["prague"] = Prague

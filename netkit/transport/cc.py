"""Congestion controllers for the reliable stream: Reno (RFC 9002 NewReno) and Cubic (RFC 9438).

A controller sees bytes sent, acknowledged and lost, and RTT samples; it owns
`cwnd` (bytes) and reports a pacing rate. ECN feedback arrives as the number of
newly CE-marked packets in an ACK (classic controllers treat CE like loss once per RTT).
"""
from __future__ import annotations

from typing import ClassVar

from netkit.link.packet import ECT0, mypyc_attr

INITIAL_WINDOW_PACKETS = 10
MIN_WINDOW_PACKETS = 2


@mypyc_attr(allow_interpreted_subclasses=True)
class CongestionController:
    """Common state: window, slow-start threshold, one reduction per round trip."""

    name: ClassVar[str] = "base"
    ecn_codepoint: ClassVar[int] = ECT0  # what this controller's packets carry when ECN is on

    def __init__(self, mss: int) -> None:
        self.mss = mss
        # floats from the start, so the pure-Python and compiled builds hold the same values
        self.cwnd: float = float(INITIAL_WINDOW_PACKETS * mss)
        self.ssthresh: float = float("inf")
        self.recovery_start = -1  # send time (µs) bounding the current recovery period
        self.ce_events = 0
        self.loss_events = 0

    def in_slow_start(self) -> bool:
        """True while cwnd is below ssthresh."""
        return self.cwnd < self.ssthresh

    def on_packet_sent(self, size: int, now: int) -> None:
        """A packet of `size` bytes was sent."""

    def on_ack(self, acked_bytes: int, now: int, rtt_us: int, min_rtt_us: int, newest_sent: int) -> None:
        """`acked_bytes` were newly acknowledged; `newest_sent` is the send time of the newest acked packet."""
        raise NotImplementedError

    def on_congestion(self, sent_time: int, now: int, rtt_us: int, ce: bool = False) -> None:
        """A loss (or CE mark) of a packet sent at `sent_time`: reduce once per round trip."""
        if sent_time <= self.recovery_start:
            return
        self.recovery_start = now
        if ce:
            self.ce_events += 1
        else:
            self.loss_events += 1
        self._reduce(now)

    def on_ce(self, newly_ce: int, acked_packets: int, now: int, rtt_us: int, newest_sent: int) -> None:
        """ECN feedback: `newly_ce` of the `acked_packets` just acknowledged were CE marked."""
        if newly_ce:
            self.on_congestion(newest_sent, now, rtt_us, ce=True)

    def on_persistent_congestion(self) -> None:
        """All packets over a long period were lost: collapse to the minimum window."""
        self.cwnd = float(MIN_WINDOW_PACKETS * self.mss)

    def _reduce(self, now: int) -> None:
        raise NotImplementedError

    def pacing_rate(self, srtt_us: int) -> float:
        """Pacing rate in bytes per µs (Linux's factors: 2x in slow start, 1.2x after)."""
        factor = 2.0 if self.in_slow_start() else 1.2
        return factor * self.cwnd / max(srtt_us, 1)


class Reno(CongestionController):
    """NewReno: additive increase of one MSS per RTT, halve on congestion."""

    name = "reno"

    def on_ack(self, acked_bytes: int, now: int, rtt_us: int, min_rtt_us: int, newest_sent: int) -> None:
        if newest_sent <= self.recovery_start:
            return
        if self.in_slow_start():
            self.cwnd += acked_bytes
        else:
            self.cwnd += self.mss * acked_bytes / self.cwnd

    def _reduce(self, now: int) -> None:
        self.ssthresh = max(self.cwnd * 0.5, float(MIN_WINDOW_PACKETS * self.mss))
        self.cwnd = self.ssthresh


class Cubic(CongestionController):
    """CUBIC (RFC 9438): W(t) = C (t - K)^3 + W_max, with the Reno-friendly region and fast convergence."""

    name = "cubic"
    C = 0.4
    BETA = 0.7

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.w_max = 0.0  # in segments
        self.w_last_max = 0.0
        self.k = 0.0
        self.epoch_start = -1
        self.w_est = 0.0
        self.cwnd_epoch = 0.0

    def on_ack(self, acked_bytes: int, now: int, rtt_us: int, min_rtt_us: int, newest_sent: int) -> None:
        if newest_sent <= self.recovery_start:
            return
        if self.in_slow_start():
            self.cwnd += acked_bytes
            return
        mss = self.mss
        cwnd_seg = self.cwnd / mss
        if self.epoch_start < 0:
            self.epoch_start = now
            if cwnd_seg < self.w_max:
                self.k = ((self.w_max - cwnd_seg) / self.C) ** (1 / 3)
            else:
                self.k = 0.0
                self.w_max = cwnd_seg
            self.w_est = cwnd_seg
            self.cwnd_epoch = cwnd_seg
        t = (now - self.epoch_start) / 1e6
        rtt_s = max(rtt_us, 1) / 1e6
        target = self.C * (t + rtt_s - self.k) ** 3 + self.w_max
        target = min(max(target, cwnd_seg), 1.5 * cwnd_seg)
        # Reno-friendly estimate (alpha chosen so the average matches Reno's)
        alpha = 3 * (1 - self.BETA) / (1 + self.BETA)
        self.w_est += alpha * (acked_bytes / mss) / cwnd_seg
        if self.w_est > target:
            target = self.w_est
        self.cwnd += (target - cwnd_seg) / cwnd_seg * acked_bytes

    def _reduce(self, now: int) -> None:
        cwnd_seg = self.cwnd / self.mss
        # fast convergence: release bandwidth sooner when the maximum keeps shrinking
        if cwnd_seg < self.w_last_max:
            self.w_last_max = cwnd_seg
            self.w_max = cwnd_seg * (1 + self.BETA) / 2
        else:
            self.w_last_max = cwnd_seg
            self.w_max = cwnd_seg
        self.cwnd = max(self.cwnd * self.BETA, float(MIN_WINDOW_PACKETS * self.mss))
        self.ssthresh = self.cwnd
        self.epoch_start = -1

    def on_persistent_congestion(self) -> None:
        super().on_persistent_congestion()
        self.epoch_start = -1


class FixedWindow(CongestionController):
    """A window that never changes (`packets` full-size packets): holds a chosen amount in flight.

    Not a congestion controller anyone should deploy; benchmarks use it to set how much data is
    in flight (benchmarks/sim_scaling.py). `packet_bytes` is what one packet counts against the
    window (the stream's IP size of a full packet).
    """

    name = "fixed"

    def __init__(self, mss: int, packets: int = 10, packet_bytes: int = 1500) -> None:
        super().__init__(mss)
        self.cwnd = float(packets * packet_bytes)
        self.ssthresh = self.cwnd

    def on_ack(self, acked_bytes: int, now: int, rtt_us: int, min_rtt_us: int, newest_sent: int) -> None:
        """The window stays as it is."""

    def _reduce(self, now: int) -> None:
        """Losses do not shrink the window either."""


CONTROLLERS: dict[str, type[CongestionController]] = {"reno": Reno, "cubic": Cubic}


def make_controller(name: str, mss: int) -> CongestionController:
    """Build a controller by name (reno, cubic, and prague once registered)."""
    try:
        import netkit.transport.prague  # noqa: F401 - registers itself
    except ModuleNotFoundError as exc:
        if exc.name != "netkit.transport.prague":
            raise
    cls = CONTROLLERS.get(name)
    if cls is None:
        raise ValueError(f"unknown congestion control {name!r}; expected one of {', '.join(sorted(CONTROLLERS))}")
    return cls(mss)

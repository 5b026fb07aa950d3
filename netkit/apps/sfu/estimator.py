"""A receiver's downlink estimate for its REMB, in the manner of Google congestion control's delay-based part
(draft-ietf-rmcat-gcc-02): a trend filter on queueing delay, an overuse detector, and an AIMD rate
controller that remembers where the link congested last.

Queueing delay of a packet is its transit time (arrival minus RTP timestamp) minus the smallest
transit seen on its stream, so streams with unrelated clocks mix. Every report interval:

* trend: the queue's floor (10th percentile of queueing delay over the interval, so a keyframe's
  burst, which drains within the interval, does not count) against the previous interval's;
* signal: *overuse* when the floor rises by more than `RISE_MS` with at least `MIN_QUEUE_MS` queued,
  or a floor of `STANDING_MS` is not draining; *underuse* when it falls by more than `RISE_MS`;
  *normal* otherwise;
* rate: overuse cuts the estimate to `BETA` x the received rate (once per `DECREASE_GAP_US`) and
  records that rate as the link's congestion level (an average and its spread); underuse holds;
  normal increases, additively (`ADDITIVE_BPS` per report) while the estimate is within 3 spreads of
  the congestion level, multiplicatively (`MULTIPLICATIVE` per report) otherwise, and forgets the
  level once the estimate is well above it (the link got better).

What this changes against a plain "queue above 60 ms -> cut" rule: while an overload's queue drains
the delay is high but falling, which is underuse here, so the estimate holds near the link's rate
instead of being cut again and again towards the low received rate of the drain, and it recovers
from there; near the last congestion level it probes slowly, so a receiver on a link that fits one
layer does not flap to the next.
"""
from __future__ import annotations

RISE_MS = 10.0
MIN_QUEUE_MS = 8.0
STANDING_MS = 120.0
BETA = 0.85
DECREASE_GAP_US = 400_000
ADDITIVE_BPS = 40_000.0
MULTIPLICATIVE = 1.12
HEADROOM_BPS = 1e6          # probing headroom above 1.5 x the received rate (a layer up needs more than we get)
FLOOR_BPS = 50_000.0


class TrendEstimator:
    """Delay-trend downlink estimate of one receiver (all the streams it receives)."""

    def __init__(self, initial_bps: float = 2.5e6):
        self.estimate_bps = initial_bps
        self.samples: list[float] = []                         # queueing ms of this interval's packets
        self.floor_ms: float | None = 0.0                      # the previous interval's floor (the queue starts empty)
        self.signal = "normal"
        self.congestion_bps: float | None = None               # average received rate at overuse
        self.congestion_var = 0.0
        self._last_decrease: int | None = None

    def on_packet(self, arrival_us: int, queueing_ms: float) -> None:
        """One media packet's queueing delay."""
        self.samples.append(queueing_ms)

    def _floor(self) -> float | None:
        """The 10th percentile of this interval's queueing delays (None: no packets)."""
        s, self.samples = sorted(self.samples), []
        return s[len(s) // 10] if s else None

    def update(self, now_us: int, recv_bps: float) -> float:
        """The estimate to report now, given the rate received over the last interval."""
        floor, previous = self._floor(), self.floor_ms
        if floor is None:
            self.signal = "normal"
        else:
            self.floor_ms = floor
            rise = floor - previous if previous is not None else 0.0
            if (rise > RISE_MS and floor > MIN_QUEUE_MS) or (floor > STANDING_MS and rise > -RISE_MS / 2):
                self.signal = "overuse"
            elif rise < -RISE_MS:
                self.signal = "underuse"
            else:
                self.signal = "normal"
        est = self.estimate_bps
        if self.signal == "overuse":
            if self._last_decrease is None or now_us - self._last_decrease >= DECREASE_GAP_US:
                est = min(est, BETA * recv_bps)
                self._last_decrease = now_us
                self._note_congestion(recv_bps)
        elif self.signal == "normal":
            level, spread = self.congestion_bps, self.congestion_var ** 0.5
            if level is not None and est > level + 3 * max(spread, 0.05 * level):
                self.congestion_bps = None        # well above the last congestion: the link got better
                level = None
            if level is not None and est >= level - 3 * max(spread, 0.05 * level):
                est += ADDITIVE_BPS
            else:
                est *= MULTIPLICATIVE
            est = min(est, 1.5 * recv_bps + HEADROOM_BPS)
        self.estimate_bps = max(est, FLOOR_BPS)
        return self.estimate_bps

    def _note_congestion(self, recv_bps: float) -> None:
        if self.congestion_bps is None:
            self.congestion_bps, self.congestion_var = recv_bps, 0.0
            return
        d = recv_bps - self.congestion_bps
        self.congestion_bps += 0.3 * d
        self.congestion_var = 0.7 * (self.congestion_var + 0.3 * d * d)

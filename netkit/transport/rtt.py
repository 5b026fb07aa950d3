"""RTT estimation as in RFC 9002 section 5 (smoothed RTT, variation, minimum)."""
from __future__ import annotations


class RttEstimator:
    """Keeps latest, smoothed and minimum RTT (µs) and the RTT variation."""

    def __init__(self, initial_rtt_us: int = 333_000) -> None:
        self.latest = 0
        self.smoothed = initial_rtt_us
        self.var = initial_rtt_us // 2
        self.min = 0
        self.has_sample = False

    def update(self, sample_us: int, ack_delay_us: int = 0) -> None:
        """Fold in an RTT sample taken when the largest acknowledged packet was newly acked."""
        self.latest = sample_us
        if not self.has_sample:
            self.has_sample = True
            self.min = sample_us
            self.smoothed = sample_us
            self.var = sample_us // 2
            return
        self.min = min(self.min, sample_us)
        adjusted = sample_us - ack_delay_us if sample_us - ack_delay_us >= self.min else sample_us
        self.var = (3 * self.var + abs(self.smoothed - adjusted)) // 4
        self.smoothed = (7 * self.smoothed + adjusted) // 8

    def pto(self, max_ack_delay_us: int) -> int:
        """Probe timeout: smoothed + max(4 var, 1 ms) + max ack delay."""
        return self.smoothed + max(4 * self.var, 1000) + max_ack_delay_us

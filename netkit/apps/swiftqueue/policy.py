"""Marking policies: which queue each packet of the measured flow goes to.

- `FixedPolicy(True)`: per-flow L4S, every packet ECT(1); `FixedPolicy(False)`: per-flow classic, ECT(0).
- `PredictivePolicy`: SwiftQueue. A predictor says the latency a packet sent now would
  meet in each queue; the flow moves to the other queue only when that one is predicted
  faster by more than `hysteresis_ms`, and every `probe_every`-th packet goes to the
  queue not in use, so the predictor keeps hearing about both.
- `OraclePolicy`: knows the true sojourns (a `truth.Timeline`) at the packet's arrival
  at the bottleneck; an upper bound, not a deployable scheme.
"""
from __future__ import annotations

from netkit.apps.swiftqueue.sender import Feedback


class FixedPolicy:
    """Every packet in one queue."""

    def __init__(self, in_l: bool) -> None:
        self.in_l = in_l

    def choose(self, now: int) -> bool:
        """The fixed queue."""
        return self.in_l

    def observe(self, sample: Feedback) -> None:
        """Feedback changes nothing."""


class PredictivePolicy:
    """Per-packet choice from a latency predictor, with hysteresis and probes (see the module docstring)."""

    def __init__(self, predictor, hysteresis_ms: float = 1.0, probe_every: int = 8) -> None:
        self.predictor = predictor
        self.hysteresis_ms = hysteresis_ms
        self.probe_every = probe_every
        self.in_l = True
        self.count = 0
        self.switches = 0

    def choose(self, now: int) -> bool:
        """The queue for the next packet."""
        self.count += 1
        l_ms, c_ms = self.predictor.predict(now)
        if self.in_l and c_ms + self.hysteresis_ms < l_ms:
            self.in_l = False
            self.switches += 1
        elif not self.in_l and l_ms + self.hysteresis_ms < c_ms:
            self.in_l = True
            self.switches += 1
        if self.probe_every and self.count % self.probe_every == 0:
            return not self.in_l
        return self.in_l

    def observe(self, sample: Feedback) -> None:
        """Hand the sample to the predictor."""
        self.predictor.observe(sample)


class OraclePolicy:
    """The queue whose true sojourn at the packet's arrival at the bottleneck is lower (ties: L)."""

    def __init__(self, timeline, fwd_delay_us: int) -> None:
        self.timeline = timeline
        self.fwd_delay_us = fwd_delay_us

    def choose(self, now: int) -> bool:
        """L unless C is truly faster."""
        l_ms, c_ms = self.timeline.at([now + self.fwd_delay_us])
        return bool(l_ms[0] <= c_ms[0])

    def observe(self, sample: Feedback) -> None:
        """The oracle needs no feedback."""

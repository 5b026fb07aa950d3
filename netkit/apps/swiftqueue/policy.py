"""Marking policies: which queue each packet of the measured flow goes to.

- `FixedPolicy(True)`: per-flow L4S, every packet ECT(1); `FixedPolicy(False)`: per-flow classic, ECT(0).
- `PredictivePolicy`: SwiftQueue. A predictor says the latency a packet sent now would
  meet in each queue; the flow moves to the other queue only when that one is predicted
  faster by more than `hysteresis_ms`. Now and then one packet goes to the queue not in
  use (a probe), so the predictor keeps hearing about both: every `probe_ms` while the
  two queues are predicted within `far_ms` of each other, every `probe_far_ms` while the
  other queue is predicted worse by more (each probe into a bad queue is a slow packet,
  and the tail is made of slow packets).
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

    def __init__(self, predictor, hysteresis_ms: float = 1.0, probe_ms: float = 100.0,
                 probe_far_ms: float = 1000.0, far_ms: float = 5.0) -> None:
        self.predictor = predictor
        self.hysteresis_ms = hysteresis_ms
        self.probe_us = int(probe_ms * 1000)
        self.probe_far_us = int(probe_far_ms * 1000)
        self.far_ms = far_ms
        self.in_l = True
        self.switches = 0
        self.probes = 0
        self._last_probe = 0

    def choose(self, now: int) -> bool:
        """The queue for the next packet."""
        l_ms, c_ms = self.predictor.predict(now)
        if self.in_l and c_ms + self.hysteresis_ms < l_ms:
            self.in_l = False
            self.switches += 1
            self._last_probe = now
        elif not self.in_l and l_ms + self.hysteresis_ms < c_ms:
            self.in_l = True
            self.switches += 1
            self._last_probe = now
        if self.probe_us > 0:
            other_worse_by = (c_ms - l_ms) if self.in_l else (l_ms - c_ms)
            interval = self.probe_far_us if other_worse_by > self.far_ms else self.probe_us
            if now - self._last_probe >= interval:
                self._last_probe = now
                self.probes += 1
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

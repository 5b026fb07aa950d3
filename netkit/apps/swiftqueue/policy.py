"""Marking policies: which queue each packet of the measured flow goes to.

- `FixedPolicy(True)`: per-flow L4S, every packet ECT(1); `FixedPolicy(False)`: per-flow classic, ECT(0).
- `PredictivePolicy`: SwiftQueue. A predictor says the latency a packet sent now would
  meet in each queue; the flow moves to the other queue only when that one is predicted
  faster by more than `hysteresis_ms`. Now and then one packet goes to the queue not in
  use (a probe), so the predictor keeps hearing about both: every `probe_ms` while the
  two queues are predicted within `far_ms` of each other, every `probe_far_ms` while the
  other queue is predicted worse by more (each probe into a bad queue is a slow packet,
  and the tail is made of slow packets).
  With `error_margin` k > 0 a switch also needs the predicted gain to exceed k times the
  predictor's recent error on the queue it would move to (`PredictionError`: the mean
  absolute deviation of what that queue's feedback showed from what was predicted for
  those packets when they were sent): a gain smaller than the prediction's own error is
  as likely a loss. By default the margin applies to moves into C only: C is where the
  predictions miss the flow's own load (C gets 10% of the link while L is backlogged, and
  the training targets are C's sojourn without the flow in it), and L is the queue an L4S
  flow returns to on the plain hysteresis.
- `DecisionPolicy` (`decision`): a classifier of the oracle's decision (`decision.py`, trained with
  `netkit swiftqueue train --target decision`) gives, per packet, the probability that C is faster
  by the training margin; the packet goes to C only when that exceeds `threshold`. No hysteresis:
  the oracle's wins are single packets sent into C at the instants C is clearly faster. Optional
  probes (`probe_ms` > 0): one packet into C when none went there for that long, so the
  classifier's C features are not only what the few moves into C brought back.
- `OraclePolicy` (`oracle-l4s`, the first oracle): knows the true sojourns (a `truth.Timeline` of
  the per-flow L4S run) at the packet's arrival at the bottleneck. Those queues lack the flow's own
  moved packets, so it is no upper bound; the real one is `lookahead.LookaheadOracle`.
"""
from __future__ import annotations

from netkit.apps.swiftqueue.sender import Feedback


def prepare_model(model, now: int, at: int) -> None:
    """Let a predictor that can (`model.TorchPredictor.prepare`) compute at `now` its answer for a send at `at`."""
    prepare = getattr(model, "prepare", None)
    if prepare is not None:
        prepare(now, at)


class FixedPolicy:
    """Every packet in one queue."""

    def __init__(self, in_l: bool) -> None:
        self.in_l = in_l

    def choose(self, now: int) -> bool:
        """The fixed queue."""
        return self.in_l

    def observe(self, sample: Feedback) -> None:
        """Feedback changes nothing."""


class PredictionError:
    """Per queue, the running mean absolute deviation of observed queueing delay from the prediction made when
    each packet was sent (an EWMA of |e - mean e|, so the constant offset between the RTT-based observation and
    the sojourn the predictor targets does not count as error)."""

    FORGET_US = 3_000_000

    def __init__(self, gain: float = 1 / 16) -> None:
        self.gain = gain
        self._pending: dict[int, tuple[float, float]] = {}
        self._mean = [0.0, 0.0]
        self.mad = [0.0, 0.0]
        self._n = [0, 0]
        self._pruned_at = 0

    def sent(self, now: int, pred: tuple[float, float]) -> None:
        """The prediction in force when a packet left at `now`."""
        self._pending.setdefault(now, pred)
        if now - self._pruned_at > self.FORGET_US:
            self._pending = {t: p for t, p in self._pending.items() if now - t <= self.FORGET_US}
            self._pruned_at = now

    def observe(self, sample: Feedback, qdelay_ms: float) -> None:
        """A packet's feedback: its queue's observed queueing delay against the prediction for it."""
        pred = self._pending.get(sample.sent_us)
        if pred is None:
            return
        q = 0 if sample.in_l else 1
        e = qdelay_ms - pred[q]
        if self._n[q] == 0:
            self._mean[q] = e
        else:
            self._mean[q] += self.gain * (e - self._mean[q])
            self.mad[q] += self.gain * (abs(e - self._mean[q]) - self.mad[q])
        self._n[q] += 1


class PredictivePolicy:
    """Per-packet choice from a latency predictor, with hysteresis and probes (see the module docstring)."""

    def __init__(self, predictor, hysteresis_ms: float = 1.0, probe_ms: float = 100.0,
                 probe_far_ms: float = 1000.0, far_ms: float = 5.0, error_margin: float = 0.0,
                 margin_into_c_only: bool = True) -> None:
        self.predictor = predictor
        self.hysteresis_ms = hysteresis_ms
        self.error_margin = error_margin
        self.margin_into_c_only = margin_into_c_only
        self.errors = PredictionError() if error_margin > 0 else None
        self._min_rtt: int | None = None
        self.probe_us = int(probe_ms * 1000)
        self.probe_far_us = int(probe_far_ms * 1000)
        self.far_ms = far_ms
        self.in_l = True
        self.switches = 0
        self.probes = 0
        self._last_probe = 0

    def choose(self, now: int) -> bool:
        """The queue for the next packet (the predictor is told, if it counts the flow's packets in flight)."""
        in_l = self._choose(now)
        sent = getattr(self.predictor, "sent", None)
        if sent is not None:
            sent(now, in_l)
        return in_l

    def _choose(self, now: int) -> bool:
        l_ms, c_ms = self.predictor.predict(now)
        to_c = to_l = self.hysteresis_ms
        if self.errors is not None:
            self.errors.sent(now, (l_ms, c_ms))
            to_c += self.error_margin * self.errors.mad[1]
            if not self.margin_into_c_only:
                to_l += self.error_margin * self.errors.mad[0]
        if self.in_l and c_ms + to_c < l_ms:
            self.in_l = False
            self.switches += 1
            self._last_probe = now
        elif not self.in_l and l_ms + to_l < c_ms:
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

    def prepare(self, now: int, at: int) -> None:
        """The next packet is expected at `at`: let the predictor compute its answer now, off the send path."""
        prepare_model(self.predictor, now, at)

    def observe(self, sample: Feedback) -> None:
        """Hand the sample to the predictor (and to the error tracker)."""
        self.predictor.observe(sample)
        if self.errors is not None:
            if self._min_rtt is None or sample.rtt_us < self._min_rtt:
                self._min_rtt = sample.rtt_us
            self.errors.observe(sample, (sample.rtt_us - self._min_rtt) / 1000.0)


class DecisionPolicy:
    """Per-packet choice from a decision classifier (see the module docstring): C when P(C faster) > threshold."""

    def __init__(self, decider, threshold: float = 0.5, probe_ms: float = 0.0) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"decision threshold {threshold}: expected 0..1")
        self.decider = decider
        self.threshold = threshold
        self.probe_us = int(probe_ms * 1000)
        self.switches = 0
        self.probes = 0
        self.into_c = 0
        self._last: bool | None = None
        self._last_c: int | None = None

    def choose(self, now: int) -> bool:
        """L unless the classifier is confident enough that C is faster now (or a probe is due)."""
        in_l = self.decider.probability(now) <= self.threshold
        if not in_l:
            self.into_c += 1
        elif self.probe_us > 0 and (self._last_c is None or now - self._last_c >= self.probe_us):
            if self._last_c is None:
                self._last_c = now  # the first probe one interval after the start
            else:
                in_l = False
                self.probes += 1
        if not in_l:
            self._last_c = now
        if self._last is not None and in_l != self._last:
            self.switches += 1
        self._last = in_l
        sent = getattr(self.decider, "sent", None)
        if sent is not None:
            sent(now, in_l)
        return in_l

    def prepare(self, now: int, at: int) -> None:
        """The next packet is expected at `at`: let the classifier compute its answer now, off the send path."""
        prepare_model(self.decider, now, at)

    def observe(self, sample: Feedback) -> None:
        """Hand the sample to the classifier's feature history."""
        self.decider.observe(sample)


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

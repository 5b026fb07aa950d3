"""Online latency predictors for the marking policy: last value, EWMA, windowed mean (no torch here).

Each keeps per-queue state from `Feedback` samples and predicts, at `now`, the
queueing latency (ms) a packet sent now would meet in the L and in the C queue.
`bias` adds a constant per queue (fitted on training data by `netkit swiftqueue
train`), since RTT above the minimum under-reads the sojourn by the minimum's own
sojourn. The torch models' online wrapper is `netkit.apps.swiftqueue.model.TorchPredictor`.
"""
from __future__ import annotations

from collections import deque

from netkit.apps.swiftqueue.sender import Feedback


class _PerQueue:
    """Shared state: the flow's minimum RTT and a per-queue bias."""

    name = "base"

    def __init__(self, bias: tuple[float, float] = (0.0, 0.0)) -> None:
        self.bias = bias
        self.min_rtt: int | None = None

    def _qd(self, s: Feedback) -> float:
        if self.min_rtt is None or s.rtt_us < self.min_rtt:
            self.min_rtt = s.rtt_us
        return (s.rtt_us - self.min_rtt) / 1000.0

    def predict(self, now: int) -> tuple[float, float]:
        """(L, C) predicted queueing latency in ms."""
        l, c = self._values()
        return max(l + self.bias[0], 0.0), max(c + self.bias[1], 0.0)  # a latency is never negative

    def _values(self) -> tuple[float, float]:
        raise NotImplementedError


class LastValue(_PerQueue):
    """The last queueing delay learned from each queue."""

    name = "last"

    def __init__(self, bias: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(bias)
        self.v = [0.0, 0.0]  # L, C

    def observe(self, s: Feedback) -> None:
        """Take one feedback sample."""
        self.v[0 if s.in_l else 1] = self._qd(s)

    def _values(self) -> tuple[float, float]:
        return self.v[0], self.v[1]


class Ewma(_PerQueue):
    """An exponentially weighted moving average per queue (gain `gain`)."""

    name = "ewma"

    def __init__(self, gain: float = 0.25, bias: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(bias)
        self.gain = gain
        self.v: list[float | None] = [None, None]

    def observe(self, s: Feedback) -> None:
        """Take one feedback sample."""
        i = 0 if s.in_l else 1
        x = self._qd(s)
        old = self.v[i]
        self.v[i] = x if old is None else old + self.gain * (x - old)

    def _values(self) -> tuple[float, float]:
        return self.v[0] or 0.0, self.v[1] or 0.0


class WindowMean(_PerQueue):
    """The mean of the last `n` samples of each queue."""

    name = "mean"

    def __init__(self, n: int = 16, bias: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(bias)
        self.w: tuple[deque, deque] = (deque(maxlen=n), deque(maxlen=n))

    def observe(self, s: Feedback) -> None:
        """Take one feedback sample."""
        self.w[0 if s.in_l else 1].append(self._qd(s))

    def _values(self) -> tuple[float, float]:
        return tuple(sum(d) / len(d) if d else 0.0 for d in self.w)  # type: ignore[return-value]


SIMPLE = {"last": LastValue, "ewma": Ewma, "mean": WindowMean}

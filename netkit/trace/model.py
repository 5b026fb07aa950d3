"""A delivery-opportunity schedule: the in-memory form of a Mahimahi trace."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from netkit.validate import MAX_OPPORTUNITIES, MAX_TRACE_MS

# Bytes one Mahimahi delivery opportunity can carry (mm-link's PACKET_SIZE).
OPPORTUNITY_BYTES = 1504


class TraceError(ValueError):
    """A trace that cannot be used; the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class Trace:
    """Millisecond timestamps of delivery opportunities, looping like mm-link's schedule.

    Opportunity k (counting from 0 across loops) happens at
    `(k // n) * last + timestamps[k % n]` ms, because mm-link advances its base by the
    last timestamp each time the schedule wraps.
    """

    timestamps: tuple[int, ...]
    source: str = "<memory>"
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        validate_timestamps(self.timestamps, self.source)
        # cached because opportunity_ms runs once per opportunity in the simulator's hot loop
        object.__setattr__(self, "_n", len(self.timestamps))
        object.__setattr__(self, "_period", self.timestamps[-1])

    @property
    def period_ms(self) -> int:
        """Length of one loop of the schedule (its last timestamp)."""
        return self.timestamps[-1]

    def __len__(self) -> int:
        return len(self.timestamps)

    def opportunity_ms(self, k: int) -> int:
        """Time in ms of opportunity number k (k >= 0, across loops)."""
        if k < self._n:
            return self.timestamps[k]
        wraps, index = divmod(k, self._n)
        return wraps * self._period + self.timestamps[index]

    def first_opportunity_after(self, t_ms: int) -> int:
        """Index of the first opportunity strictly later than `t_ms`."""
        n = len(self.timestamps)
        period = self.timestamps[-1]
        wraps = max(t_ms, 0) // period
        i = bisect_right(self.timestamps, t_ms - wraps * period)
        if i < n:
            return wraps * n + i
        return (wraps + 1) * n + bisect_right(self.timestamps, t_ms - (wraps + 1) * period)

    def opportunities_in(self, start_ms: int, end_ms: int) -> int:
        """Number of opportunities with start_ms <= t < end_ms (across loops)."""
        return self.first_opportunity_after(end_ms - 1) - self.first_opportunity_after(start_ms - 1)

    @property
    def mean_mbps(self) -> float:
        """Long-run capacity in Mbit/s: one loop's opportunities over its period."""
        return len(self.timestamps) * OPPORTUNITY_BYTES * 8 / (self.period_ms * 1000)

    def starting_at(self, start_ms: int) -> "Trace":
        """The same schedule entered `start_ms` into it: one loop of the opportunities in (start, start + period]
        shifted back by `start_ms`, so the part before `start_ms` plays after the rest. The loop is the
        original's, shortened only by the gap between `start_ms` and the opportunity at or before it."""
        if start_ms == 0:
            return self
        if not 0 < start_ms < self.period_ms:
            raise ValueError(f"{self.source}: a start of {start_ms} ms is outside the trace's {self.period_ms} ms")
        ts, period = self.timestamps, self.period_ms
        first = bisect_right(ts, start_ms)
        shifted = [t - start_ms for t in ts[first:]] + [t + period - start_ms for t in ts[:first]]
        return Trace(tuple(shifted), f"{self.source} from {start_ms} ms", dict(self.meta))

    def capacity_mbps(self, start_ms: int, end_ms: int) -> float:
        """Capacity in Mbit/s offered by opportunities in [start_ms, end_ms)."""
        if end_ms <= start_ms:
            raise ValueError(f"capacity window must have end > start, got [{start_ms}, {end_ms})")
        return self.opportunities_in(start_ms, end_ms) * OPPORTUNITY_BYTES * 8 / ((end_ms - start_ms) * 1000)


def validate_timestamps(timestamps: tuple[int, ...] | list[int], source: str) -> None:
    """Apply mm-link's rules: at least one timestamp, non-decreasing, last one non-zero."""
    if not timestamps:
        raise TraceError(f"{source}: no valid timestamps found (the trace is empty)")
    prev = 0
    for i, t in enumerate(timestamps):
        if t < 0:
            raise TraceError(f"{source}: timestamp {i + 1} is negative ({t})")
        if t < prev:
            raise TraceError(
                f"{source}: timestamps must be monotonically nondecreasing "
                f"(entry {i + 1} is {t} after {prev})"
            )
        prev = t
    if timestamps[-1] == 0:
        raise TraceError(f"{source}: trace must last for a nonzero amount of time (last timestamp is 0)")
    if timestamps[-1] > MAX_TRACE_MS:
        raise TraceError(f"{source}: last timestamp {timestamps[-1]} ms is beyond the limit of {MAX_TRACE_MS} ms "
                         "(one day)")
    if len(timestamps) > MAX_OPPORTUNITIES:
        raise TraceError(f"{source}: {len(timestamps)} delivery opportunities; the limit is {MAX_OPPORTUNITIES}")

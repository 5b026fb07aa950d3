"""Deterministic discrete-event engine: integer microseconds, seeded randomness, stable tie order."""
from __future__ import annotations

import random
from heapq import heappop, heappush
from typing import Any, Callable, Final

# how a bucket entry's argument is passed: fn(*args), fn(arg), fn()
_ARGS: Final = 0
_ONE: Final = 1
_NONE: Final = 2


class Simulator:
    """Runs callbacks in time order on a virtual clock.

    Events at the same time run in the order they were scheduled, so a run
    depends only on its inputs and seed, never on hashing or wall-clock time.

    Events are kept in one bucket per distinct time (callbacks and their arguments, in the
    order they were scheduled) and a heap of those times: the same order as a heap of
    (time, sequence number) entries, with one heap operation per distinct time instead of
    one per event (a path's events cluster on the trace's millisecond boundaries).
    `at_one` and `at_none` schedule a call with exactly one or no argument without
    building an argument tuple (the hot paths of pipes and hosts use them).
    """

    def __init__(self, seed: int = 0) -> None:
        self.now = 0
        self.seed = seed
        self.rng = random.Random(seed)
        self._times: list[Any] = []  # heap of the times (ints) that have a bucket
        self._buckets: dict[Any, list[Any]] = {}  # time -> [fn, arg(s), how, fn, arg(s), how, ...]
        self._seq = 0  # events scheduled so far (pipes use it to see that nothing came in between)
        self.events_run = 0

    def at(self, t: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` at time `t` (µs); a time in the past runs at the current time."""
        self._push(t, fn, args, _ARGS)

    def at_one(self, t: int, fn: Callable[[Any], Any], arg: Any) -> None:
        """Run `fn(arg)` at time `t` (µs): `at(t, fn, arg)` without an argument tuple."""
        self._push(t, fn, arg, _ONE)

    def at_none(self, t: int, fn: Callable[[], Any]) -> None:
        """Run `fn()` at time `t` (µs)."""
        self._push(t, fn, None, _NONE)

    def _push(self, t: int, fn: Callable[..., Any], arg: Any, how: int) -> None:
        if t < self.now:
            t = self.now
        self._seq += 1
        key: Any = t  # boxed once for the dict and the heap
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [fn, arg, how]
            heappush(self._times, key)
        else:
            bucket.append(fn)
            bucket.append(arg)
            bucket.append(how)

    def after(self, delay: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` `delay` µs from now."""
        self.at(self.now + delay, fn, *args)

    def child_rng(self, name: str) -> random.Random:
        """An independent, reproducible random stream for one component."""
        return random.Random(f"{self.seed}:{name}")

    def run(self, until: int, progress: Callable[[int], None] | None = None, progress_every: int = 1_000_000) -> None:
        """Process events up to and including time `until` (µs)."""
        times = self._times
        buckets = self._buckets
        pop = heappop
        next_report = self.now + progress_every
        n = 0
        t: int = 0
        key: Any = 0
        i = 0
        bucket: list[Any] = []
        try:
            while times and times[0] <= until:
                key = pop(times)
                t = key
                bucket = buckets[key]
                self.now = t
                i = 0
                # events scheduled for now while the bucket runs are appended to it and run in turn
                while i < len(bucket):
                    fn = bucket[i]
                    arg = bucket[i + 1]
                    how: int = bucket[i + 2]
                    i += 3
                    if how == _ONE:
                        fn(arg)
                    elif how == _NONE:
                        fn()
                    else:
                        fn(*arg)
                    n += 1
                    if progress is not None and t >= next_report:
                        progress(t)
                        next_report = t + progress_every
                del buckets[key]
                bucket = []
        except BaseException:
            # the failing event is consumed, as a popped heap entry would be; the rest of its time's stay
            if bucket:
                del bucket[:i]
                if bucket:
                    heappush(times, key)
                else:
                    del buckets[key]
            self.events_run += n
            raise
        self.events_run += n
        self.now = until
        if progress is not None:
            progress(until)

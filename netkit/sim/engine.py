"""Deterministic discrete-event engine: integer microseconds, seeded randomness, stable tie order."""
from __future__ import annotations

import heapq
import random
from typing import Any, Callable


class Simulator:
    """Runs callbacks in time order on a virtual clock.

    Events at the same time run in the order they were scheduled, so a run
    depends only on its inputs and seed, never on hashing or wall-clock time.
    """

    def __init__(self, seed: int = 0) -> None:
        self.now = 0
        self.seed = seed
        self.rng = random.Random(seed)
        self._heap: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._seq = 0
        self.events_run = 0

    def at(self, t: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` at time `t` (µs); a time in the past runs at the current time."""
        if t < self.now:
            t = self.now
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, args))

    def after(self, delay: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` `delay` µs from now."""
        self.at(self.now + delay, fn, *args)

    def child_rng(self, name: str) -> random.Random:
        """An independent, reproducible random stream for one component."""
        return random.Random(f"{self.seed}:{name}")

    def run(self, until: int, progress: Callable[[int], None] | None = None, progress_every: int = 1_000_000) -> None:
        """Process events up to and including time `until` (µs)."""
        heap = self._heap
        pop = heapq.heappop
        next_report = self.now + progress_every
        n = 0
        while heap and heap[0][0] <= until:
            t, _, fn, args = pop(heap)
            self.now = t
            fn(*args)
            n += 1
            if progress is not None and t >= next_report:
                progress(t)
                next_report = t + progress_every
        self.events_run += n
        self.now = until
        if progress is not None:
            progress(until)

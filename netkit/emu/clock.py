"""`Clock`: integer microseconds since an epoch on CLOCK_MONOTONIC, the time base every live component shares.

CLOCK_MONOTONIC is one clock for the whole machine, whatever the network
namespace, so a sender's timestamps mean the same to a receiver in another
namespace, to the link process and to its logs. asyncio's `loop.time()` reads the
same clock (in seconds), so endpoint timers convert exactly.
"""
from __future__ import annotations

import time


class Clock:
    """µs since `epoch_ns` (default: now)."""

    def __init__(self, epoch_ns: int | None = None) -> None:
        self.epoch_ns = time.monotonic_ns() if epoch_ns is None else int(epoch_ns)

    def now(self) -> int:
        """Microseconds since the epoch."""
        return (time.monotonic_ns() - self.epoch_ns) // 1000

    def to_loop_time(self, t_us: int) -> float:
        """The asyncio loop time (`time.monotonic()` seconds) of clock time `t_us`."""
        return (self.epoch_ns + t_us * 1000) / 1e9

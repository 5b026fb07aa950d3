"""The clock-agnostic interface every link element implements.

Times are integers in microseconds on whatever clock the driver uses: the
simulator's virtual clock or the live link's monotonic clock. An element is
handed packets with `enqueue(pkt, now)`; `next_time()` says when it next has
something to release (None: nothing pending); `dequeue(now)` returns every packet
whose release time is at or before `now`, in release order, each as
`(release_time_us, packet)`. Elements never read a clock and never sleep.
"""
from __future__ import annotations

from typing import Protocol

from netkit.link.packet import Packet


class LinkElement(Protocol):
    """A stage of a path: Delay, Loss, TraceLink, or a Chain of them."""

    def enqueue(self, pkt: Packet, now: int) -> None:
        """Accept a packet arriving at time `now` (µs)."""

    def next_time(self) -> int | None:
        """Earliest time (µs) at which `dequeue` will return a packet, or None."""

    def dequeue(self, now: int) -> list[tuple[int, Packet]]:
        """Release every packet due at or before `now`, as (release time, packet)."""

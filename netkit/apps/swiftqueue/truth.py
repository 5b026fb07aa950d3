"""Ground truth of the two queues: the sojourn a packet entering the L or C queue at time t would have.

Built from a `QueueMonitor`'s per-packet departures (every flow's packets, with
DualPI2's own per-packet L/C sojourns). Both FIFOs keep order, so a packet entering
queue q at t leaves after the last packet that entered before it and before the
first that entered after it; `Timeline.at` takes the earlier of the two bounds
(the previous departure plus one millisecond slot, the next arrival's departure),
which is exact to within the link's 1 ms service slot.
"""
from __future__ import annotations

import numpy as np

SLOT_US = 1000


class QueueTruth:
    """Arrival and departure times of one FIFO (µs, sorted by arrival)."""

    def __init__(self, depart_us: np.ndarray, sojourn_us: np.ndarray) -> None:
        arrive = depart_us - sojourn_us
        order = np.argsort(arrive, kind="stable")
        self.arrive = arrive[order].astype(np.int64)
        self.depart = depart_us[order].astype(np.int64)

    def sojourn_us(self, t: np.ndarray) -> np.ndarray:
        """Sojourn (µs) of a packet entering at each time in `t`."""
        t = np.asarray(t, dtype=np.int64)
        n = len(self.arrive)
        if n == 0:
            return np.full(t.shape, SLOT_US // 2, dtype=np.int64)
        j = np.searchsorted(self.arrive, t, side="left")
        prev_dep = np.where(j > 0, self.depart[np.maximum(j - 1, 0)], t)
        lower = np.maximum(prev_dep - t, 0) + SLOT_US
        nxt_dep = np.where(j < n, self.depart[np.minimum(j, n - 1)], np.iinfo(np.int64).max // 4)
        upper = np.maximum(nxt_dep - t, 0)
        return np.minimum(lower, upper)


class Timeline:
    """Both queues' ground truth; `at(t)` gives (L ms, C ms) arrays for entry times `t` (µs)."""

    def __init__(self, l: QueueTruth, c: QueueTruth) -> None:
        self.l = l
        self.c = c

    @classmethod
    def from_monitor(cls, monitor) -> "Timeline":
        """From a `netkit.link.monitor.QueueMonitor` (its `logs["l"]` and `logs["c"]`)."""
        parts = []
        for name in ("l", "c"):
            log = monitor.logs[name]
            parts.append(QueueTruth(np.frombuffer(log.depart_us, dtype=np.int64).copy(),
                                    np.frombuffer(log.sojourn_us, dtype=np.int64).copy()))
        return cls(*parts)

    def at(self, t_us) -> tuple[np.ndarray, np.ndarray]:
        """(L, C) sojourn in ms of packets entering at `t_us`."""
        t = np.asarray(t_us, dtype=np.int64)
        return self.l.sojourn_us(t) / 1000.0, self.c.sojourn_us(t) / 1000.0

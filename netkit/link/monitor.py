"""Per-queue measurements of a DualPI2 bottleneck: sojourn times, CE marks and drops of the L and C queues.

`QueueMonitor.attach(element)` finds the `TraceLink` in a path and registers itself
as an observer of its DualPI2 queue (`DualPI2Queue.add_observer`), which reports
every departure with its queue and sojourn and every drop with its queue. It is
clock-agnostic: the live link process attaches it to the same objects.
"""
from __future__ import annotations

from array import array
import numpy as np

from netkit.link.packet import CE, Packet
from netkit.link.tracelink import TraceLink

QUEUES = ("l", "c")


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile, or NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


class _QueueLog:
    """Raw record of one queue: departure times, sojourns, CE flags; drop times."""

    def __init__(self) -> None:
        self.depart_us = array("q")
        self.sojourn_us = array("q")
        self.ce = array("b")
        self.drop_us = array("q")

    def window(self, start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(departure times, sojourns, CE flags) of departures in [start_us, end_us)."""
        t = np.frombuffer(self.depart_us, dtype=np.int64)
        mask = (t >= start_us) & (t < end_us)
        return (t[mask], np.frombuffer(self.sojourn_us, dtype=np.int64)[mask],
                np.frombuffer(self.ce, dtype=np.int8)[mask])

    def drops_in(self, start_us: int, end_us: int) -> np.ndarray:
        """Drop times in [start_us, end_us)."""
        t = np.frombuffer(self.drop_us, dtype=np.int64)
        return t[(t >= start_us) & (t < end_us)]


class QueueMonitor:
    """Records what leaves and what is dropped from each queue ("l", "c") of a DualPI2 queue.

    A mark is a departure that leaves CE (the senders here never send CE, so each one
    was marked by this queue). The queue says which of its queues each departure
    and drop belongs to.
    """

    def __init__(self, queue: object) -> None:
        self.queue = queue
        self.logs = {name: _QueueLog() for name in QUEUES}
        queue.add_observer(self)

    @classmethod
    def attach(cls, element: object) -> QueueMonitor | None:
        """Monitor the queue of the first TraceLink in `element` (a TraceLink or Chain).

        Returns None when there is no TraceLink or its queue offers no observer hook (not DualPI2).
        """
        links = [el for el in getattr(element, "elements", [element]) if isinstance(el, TraceLink)]
        if not links or not hasattr(links[0].queue, "add_observer"):
            return None
        return cls(links[0].queue)

    def on_depart(self, pkt: Packet, queue_name: str, sojourn_us: int) -> None:
        """Observer hook: `pkt` leaves queue "L" or "C" after `sojourn_us`."""
        log = self.logs[queue_name.lower()]
        log.depart_us.append(pkt.arrival + sojourn_us)
        log.sojourn_us.append(sojourn_us)
        log.ce.append(pkt.ecn == CE)

    def on_drop(self, pkt: Packet, queue_name: str, now: int) -> None:
        """Observer hook: the queue dropped `pkt` from "L" or "C" at `now` (limit at enqueue, AQM at dequeue)."""
        self.logs[queue_name.lower()].drop_us.append(now)

    def sojourns_ms(self, name: str, start_us: int = 0, end_us: int | None = None) -> np.ndarray:
        """Sojourn times (ms) of queue `name`'s departures in [start_us, end_us)."""
        _, s, _ = self.logs[name].window(start_us, end_us if end_us is not None else 2**62)
        return s / 1000

    def summary(self, start_us: int = 0, end_us: int | None = None) -> dict[str, dict]:
        """Per queue over [start_us, end_us): sojourn_ms_p50/p99 (and mean, p95), marks, drops, rates."""
        end = end_us if end_us is not None else 2**62
        out = {}
        for name, log in self.logs.items():
            _, soj, ce = log.window(start_us, end)
            drops = len(log.drops_in(start_us, end))
            s_ms = soj / 1000
            marks = int(ce.sum())
            offered = len(soj) + drops
            out[name] = {
                "packets": len(soj),
                "sojourn_ms_p50": percentile(s_ms, 50),
                "sojourn_ms_p95": percentile(s_ms, 95),
                "sojourn_ms_p99": percentile(s_ms, 99),
                "sojourn_ms_mean": float(s_ms.mean()) if len(s_ms) else float("nan"),
                "marks": marks,
                "drops": drops,
                "mark_rate": marks / len(soj) if len(soj) else 0.0,
                "drop_rate": drops / offered if offered else 0.0,
            }
        return out

    def rate_series(self, name: str, end_us: int, bin_ms: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bin start seconds, mark fraction, drop fraction) of queue `name` per bin."""
        nbins = max(1, -(-end_us // (bin_ms * 1000)))
        log = self.logs[name]
        t, _, ce = log.window(0, end_us)
        idx = t // (bin_ms * 1000)
        sent = np.bincount(idx, minlength=nbins)[:nbins]
        marked = np.bincount(idx, weights=ce, minlength=nbins)[:nbins]
        dropped = np.bincount(log.drops_in(0, end_us) // (bin_ms * 1000), minlength=nbins)[:nbins]
        offered = sent + dropped
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.arange(nbins) * bin_ms / 1000, np.where(sent > 0, marked / np.maximum(sent, 1), 0.0),
                    np.where(offered > 0, dropped / np.maximum(offered, 1), 0.0))

"""Trace statistics: duration and mean/percentile capacity in Mbit/s."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from netkit.trace.model import OPPORTUNITY_BYTES, Trace, TraceError

#: the most windows `windowed_rates_mbps` builds (a one-day trace in 10 ms windows)
MAX_WINDOWS = 10_000_000

if TYPE_CHECKING:  # numpy is imported where it is used: loading a trace or running a simulation needs none
    import numpy as np


@dataclass(frozen=True)
class TraceStats:
    """Summary of one loop of a trace, with rates over fixed windows."""

    source: str
    opportunities: int
    duration_s: float
    mean_mbps: float
    p5_mbps: float
    p50_mbps: float
    p95_mbps: float
    min_mbps: float
    max_mbps: float
    window_ms: int

    def as_dict(self) -> dict:
        """The statistics as a JSON-ready dict."""
        return asdict(self)


def windowed_rates_mbps(trace: Trace, window_ms: int = 1000) -> np.ndarray:
    """Capacity in Mbit/s of each `window_ms` window of one loop (a partial last window is dropped)."""
    import numpy as np

    check_window(trace, window_ms)
    stamps = np.asarray(trace.timestamps, dtype=np.int64)
    nwin = max(1, trace.period_ms // window_ms)
    counts = np.bincount(np.minimum(stamps // window_ms, nwin - 1), minlength=nwin)[:nwin]
    return counts * OPPORTUNITY_BYTES * 8 / (window_ms * 1000)


def check_window(trace: Trace, window_ms: int) -> None:
    """Refuse a window that is not a whole number of ms >= 1 or that cuts the trace into too many windows."""
    if isinstance(window_ms, bool) or not isinstance(window_ms, int) or window_ms < 1:
        raise TraceError(f"window must be a whole number of ms >= 1, got {window_ms!r}")
    if trace.period_ms // window_ms > MAX_WINDOWS:
        raise TraceError(f"{window_ms} ms windows over the {trace.period_ms} ms of {trace.source} make "
                         f"{trace.period_ms // window_ms} windows; the limit is {MAX_WINDOWS} (use a larger window)")


def trace_stats(trace: Trace, window_ms: int = 1000) -> TraceStats:
    """Duration, mean rate and percentiles of the per-window rate."""
    import numpy as np

    rates = windowed_rates_mbps(trace, window_ms)
    return TraceStats(
        source=trace.source,
        opportunities=len(trace),
        duration_s=trace.period_ms / 1000,
        mean_mbps=trace.mean_mbps,
        p5_mbps=float(np.percentile(rates, 5)),
        p50_mbps=float(np.percentile(rates, 50)),
        p95_mbps=float(np.percentile(rates, 95)),
        min_mbps=float(rates.min()),
        max_mbps=float(rates.max()),
        window_ms=window_ms,
    )

"""PNG plots of a run: throughput against trace capacity, delay over time, delay CDF."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from netkit.sim.metrics import FlowRecord, throughput_series  # noqa: E402
from netkit.trace.model import OPPORTUNITY_BYTES, Trace  # noqa: E402


def capacity_series(trace: Trace, end_us: int, bin_ms: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(bin start seconds, Mbit/s) the trace offers per bin over the run (looping)."""
    nbins = max(1, -(-end_us // (bin_ms * 1000)))
    caps = [trace.opportunities_in(i * bin_ms, (i + 1) * bin_ms) for i in range(nbins)]
    return np.arange(nbins) * bin_ms / 1000, np.asarray(caps) * OPPORTUNITY_BYTES * 8 / (bin_ms / 1000) / 1e6


def plot_throughput(path: Path, trace: Trace | None, records: list[FlowRecord], end_us: int, bin_ms: int = 500) -> None:
    """Each flow's throughput (and their sum) against the trace's capacity."""
    fig, ax = plt.subplots(figsize=(9, 4))
    if trace is not None:
        t, cap = capacity_series(trace, end_us, bin_ms)
        ax.fill_between(t, cap, step="post", alpha=0.25, color="grey", label="capacity")
    total = None
    for rec in records:
        t, thr = throughput_series(rec, end_us, bin_ms)
        total = thr if total is None else total + thr
        ax.step(t, thr, where="post", label=f"flow {rec.flow} ({rec.app})")
    if total is not None and len(records) > 1:
        ax.step(t, total, where="post", color="black", lw=1, label="total")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Mbit/s")
    ax.set_title("Throughput against trace capacity")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_delay(path: Path, records: list[FlowRecord]) -> None:
    """One-way packet delay over time per flow."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for rec in records:
        t = np.frombuffer(rec.arrivals_us, dtype=np.int64) / 1e6
        d = np.frombuffer(rec.delays_us, dtype=np.int64) / 1000
        step = max(1, len(t) // 20000)  # keep the PNG light for long runs
        ax.plot(t[::step], d[::step], ".", ms=1.5, label=f"flow {rec.flow} ({rec.app})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("one-way delay (ms)")
    ax.set_title("Packet delay over time")
    ax.legend(loc="upper right", fontsize=8, markerscale=6)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_delay_cdf(path: Path, records: list[FlowRecord]) -> None:
    """CDF of one-way packet delay per flow."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for rec in records:
        d = np.sort(np.frombuffer(rec.delays_us, dtype=np.int64) / 1000)
        if len(d):
            ax.plot(d, np.arange(1, len(d) + 1) / len(d), label=f"flow {rec.flow} ({rec.app})")
    ax.set_xlabel("one-way delay (ms)")
    ax.set_ylabel("CDF")
    ax.set_title("Delay CDF")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_figure(fig, path: str | Path) -> None:
    """Lay out, save as PNG under a temporary name, close, then rename into place."""
    path = Path(path)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)

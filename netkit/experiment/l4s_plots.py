"""PNG plots of the L4S dumbbell: per-queue sojourn CDFs and time series, throughput shares, mark and drop rates."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from netkit.link.monitor import QueueMonitor  # noqa: E402
from netkit.experiment.plots import save_figure  # noqa: E402
from netkit.sim.metrics import FlowRecord, throughput_series  # noqa: E402

QUEUE_LABELS = {"l": "L queue (L4S)", "c": "C queue (classic)"}
QUEUE_COLORS = {"l": "tab:blue", "c": "tab:orange"}


def plot_sojourn_cdf(path: Path, monitor: QueueMonitor, start_us: int, end_us: int) -> None:
    """CDF of each queue's sojourn time over [start_us, end_us)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in ("l", "c"):
        s = np.sort(monitor.sojourns_ms(name, start_us, end_us))
        if len(s):
            ax.plot(s, np.arange(1, len(s) + 1) / len(s), color=QUEUE_COLORS[name],
                    label=f"{QUEUE_LABELS[name]}: p50 {np.percentile(s, 50):.2f} ms, p99 {np.percentile(s, 99):.2f} ms")
    ax.set_xlabel("sojourn time (ms)")
    ax.set_ylabel("CDF")
    ax.set_title(f"DualPI2 sojourn time per queue (after {start_us / 1e6:g} s)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_sojourn_time(path: Path, monitor: QueueMonitor, end_us: int, bin_ms: int = 100) -> None:
    """Median and p99 sojourn per queue in `bin_ms` bins over the run."""
    fig, ax = plt.subplots(figsize=(9, 4))
    nbins = max(1, -(-end_us // (bin_ms * 1000)))
    for name in ("l", "c"):
        t, soj, _ = monitor.logs[name].window(0, end_us)
        if not len(t):
            continue
        idx = t // (bin_ms * 1000)
        order = np.argsort(idx, kind="stable")
        bounds = np.searchsorted(idx[order], np.arange(nbins + 1))
        p50 = np.full(nbins, np.nan)
        p99 = np.full(nbins, np.nan)
        for b in range(nbins):
            chunk = soj[order[bounds[b]:bounds[b + 1]]]
            if len(chunk):
                p50[b], p99[b] = np.percentile(chunk, [50, 99]) / 1000
        x = np.arange(nbins) * bin_ms / 1000
        ax.step(x, p50, where="post", color=QUEUE_COLORS[name], label=f"{QUEUE_LABELS[name]} p50")
        ax.step(x, p99, where="post", color=QUEUE_COLORS[name], lw=0.8, ls="--", label=f"{QUEUE_LABELS[name]} p99")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"sojourn time (ms), {bin_ms} ms bins")
    ax.set_title("DualPI2 sojourn time over time")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_throughput_shares(path: Path, records: list[FlowRecord], capacity_mbps: float, end_us: int,
                           bin_ms: int = 500) -> None:
    """Per-flow throughput against capacity (top) and each flow's share of the total (bottom)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    series = [throughput_series(rec, end_us, bin_ms) for rec in records]
    total = sum(thr for _, thr in series) if series else None
    top.axhline(capacity_mbps, color="grey", lw=1, ls=":", label=f"capacity {capacity_mbps:g} Mbit/s")
    for rec, (t, thr) in zip(records, series):
        top.step(t, thr, where="post", label=f"{rec.app}")
        with np.errstate(invalid="ignore", divide="ignore"):
            bottom.step(t, np.where(total > 0, thr / total, np.nan), where="post", label=rec.app)
    if total is not None and len(records) > 1:
        top.step(series[0][0], total, where="post", color="black", lw=1, label="total")
    top.set_ylabel(f"Mbit/s ({bin_ms} ms bins)")
    top.set_title("Throughput and shares at the DualPI2 bottleneck")
    top.legend(loc="lower right", fontsize=8, ncol=2)
    top.grid(alpha=0.3)
    bottom.axhline(0.5, color="grey", lw=1, ls=":")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("share")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.grid(alpha=0.3)
    save_figure(fig, path)


def plot_mark_drop_rates(path: Path, monitor: QueueMonitor, end_us: int, bin_ms: int = 500) -> None:
    """Fraction of each queue's packets CE-marked and dropped per bin."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for name in ("l", "c"):
        t, marks, drops = monitor.rate_series(name, end_us, bin_ms)
        ax.step(t, marks * 100, where="post", color=QUEUE_COLORS[name], label=f"{QUEUE_LABELS[name]} marked")
        ax.step(t, drops * 100, where="post", color=QUEUE_COLORS[name], ls="--", lw=0.8,
                label=f"{QUEUE_LABELS[name]} dropped")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"% of packets ({bin_ms} ms bins)")
    ax.set_title("CE marks and drops per queue")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


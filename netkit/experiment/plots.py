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


def plot_sweep(path: Path, summary: dict, metrics: list[str]) -> bool:
    """Each metric's mean (with the p50-p95 band) against the first swept key, one line per value of the rest.

    Returns False (and writes nothing) when the sweep has no grid key or no such metric.
    """
    keys = summary.get("grid") or []
    points = [p for p in summary.get("points", []) if p["ok"]]
    metrics = [m for m in metrics if any(m in p["metrics"] and p["metrics"][m]["mean"] is not None for p in points)]
    if not keys or not points or not metrics:
        return False
    x_key, rest = keys[0], keys[1:]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    groups: dict[str, list[dict]] = {}
    for p in points:
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(p['params'][k])}" for k in rest) or "all"
        groups.setdefault(label, []).append(p)
    numeric = all(isinstance(p["params"][x_key], (int, float)) for p in points)
    order = sorted({_short(p["params"][x_key]) if not numeric else p["params"][x_key] for p in points},
                   key=lambda x: (0, float(x), "") if numeric else (1, 0.0, str(x)))
    for ax, m in zip(axes[0], metrics):
        for label, ps in groups.items():
            ps = sorted(ps, key=lambda p: order.index(p["params"][x_key] if numeric else _short(p["params"][x_key])))
            xs = [p["params"][x_key] if numeric else order.index(_short(p["params"][x_key])) for p in ps]
            st = [p["metrics"].get(m) or {} for p in ps]
            mean = [s.get("mean") if s.get("mean") is not None else np.nan for s in st]
            lo = [s.get("p50") if s.get("p50") is not None else np.nan for s in st]
            hi = [s.get("p95") if s.get("p95") is not None else np.nan for s in st]
            line, = ax.plot(xs, mean, marker="o", label=label)
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
        if not numeric:
            ax.set_xticks(range(len(order)), [str(o) for o in order], rotation=20, fontsize=7)
        ax.set_xlabel(x_key)
        ax.set_title(m, fontsize=9)
        ax.grid(alpha=0.3)
    runs = sum(p["runs"] for p in points)
    fig.suptitle(f"sweep: mean (line) and p50-p95 band (shaded) over seeds; {runs} runs", fontsize=9)
    if len(groups) > 1:
        axes[0][-1].legend(fontsize=7)
    save_figure(fig, path)
    return True


def _short(value: object) -> object:
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else value

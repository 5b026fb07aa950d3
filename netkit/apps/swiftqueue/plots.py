"""SwiftQueue's plots: predicted against true latency over time, error CDF per predictor, latency CDF per policy."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_prediction_time(path: Path, w, preds: dict[str, np.ndarray], runs, run_index: int = 0,
                         span_s: float = 6.0) -> None:
    """One run's true L and C latency against the transformer's and last value's predictions."""
    plt = _plt()
    sel = np.flatnonzero(w.run == run_index)
    t = runs[run_index].raw[w.idx[sel], 0] / 1e6
    keep = t < t[0] + span_s if len(t) else sel
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for q, ax, label in ((0, axes[0], "L queue"), (1, axes[1], "C queue")):
        ax.plot(t[keep], w.y[sel][keep, q], color="black", lw=1.2, label="true")
        ax.plot(t[keep], preds["swiftqueue"][sel][keep, q], color="tab:blue", lw=0.9, label="transformer")
        ax.plot(t[keep], preds["last"][sel][keep, q], color="tab:orange", lw=0.7, alpha=0.7, label="last value")
        ax.set_ylabel(f"{label} latency (ms)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[1].set_xlabel("time (s)")
    r = runs[run_index]
    fig.suptitle(f"{Path(r.trace).name}, {r.mix}: predicted vs true queueing latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_error_cdf(path: Path, w, preds: dict[str, np.ndarray]) -> None:
    """CDF of absolute prediction error per predictor (both queues' targets)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, p in preds.items():
        e = np.sort(np.abs(p - w.y).ravel())
        ax.plot(e, np.arange(1, len(e) + 1) / len(e), label=name)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("absolute error (ms)")
    ax.set_ylabel("CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency_cdf(path: Path, by_policy: dict) -> None:
    """CDF of the measured flow's one-way packet latency per policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, runs in by_policy.items():
        d = np.sort(np.concatenate([r.delays_ms for r in runs]))
        if len(d):
            ax.plot(d, np.arange(1, len(d) + 1) / len(d), label=name)
    ax.set_xlabel("one-way latency (ms)")
    ax.set_ylabel("CDF")
    ax.set_ylim(0.8, 1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(out: Path, data: dict) -> None:
    """All three plots into `out`."""
    plot_prediction_time(out / "prediction_time.png", data["windows"], data["preds"], data["runs"])
    plot_error_cdf(out / "error_cdf.png", data["windows"], data["preds"])
    plot_latency_cdf(out / "latency_cdf.png", data["by_policy"])

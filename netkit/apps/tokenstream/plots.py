"""The bench plot: stall ratio against loss rate per scheme, one panel per loss model."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from netkit.experiment.plots import save_figure  # noqa: E402

STYLE = {"eloquent": ("tab:green", "o"), "retransmit": ("tab:red", "s"), "duplicate": ("tab:blue", "^"),
         "udp": ("tab:gray", "x")}
MODEL_NAMES = {"bernoulli": "Bernoulli loss", "ge": "Gilbert-Elliott bursts"}


def plot_stall_vs_loss(path: Path, results: dict) -> None:
    """Mean stall ratio (over traces and seeds) against the loss rate; written via a temporary name."""
    schemes = results["sweep"]["schemes"]
    models = results["sweep"]["loss_models"]
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = [r for r in results["by_loss"] if r["loss_model"] == model]
        xs = [r["loss"] * 100 for r in rows]
        for s in schemes:
            color, marker = STYLE.get(s, (None, "."))
            label = s if s != "udp" else "udp (drops tokens)"
            ax.plot(xs, [r["stall_ratio"][s] for r in rows], marker=marker, color=color, label=label,
                    ls="--" if s == "udp" else "-")
        title = MODEL_NAMES.get(model, model)
        if model == "ge":
            title += f" (mean burst {results['sweep']['burst']:g})"
        ax.set_title(title)
        ax.set_xlabel("packet loss (%)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("stall ratio")
    axes[0][-1].legend(fontsize=8)
    save_figure(fig, path)

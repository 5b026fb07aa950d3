"""Plots of an SFU bench: received fps per second for each (receiver, sender), and the control plane's
packets by type."""
from __future__ import annotations

from pathlib import Path

from netkit.experiment.plots import plt, save_figure


def plot_fps(path: Path, sfus: dict[str, dict]) -> None:
    """Frames decoded per second over time, one line per receiver and sender, one panel per SFU."""
    fig, axes = plt.subplots(1, len(sfus), figsize=(6 * len(sfus), 4), squeeze=False, sharey=True)
    for ax, (name, s) in zip(axes[0], sfus.items()):
        for r in s["receivers"]:
            constrained = r["trace"] not in ("none",) and any(r["trace"] != o["trace"] for o in s["receivers"])
            ax.plot(range(len(r["fps_per_s"])), r["fps_per_s"], lw=1.5 if constrained else 0.8,
                    label=f"{r['receiver']} <- {r['sender']} ({r['trace']})")
        ax.set_title(f"{name}: received fps")
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("frames decoded per second")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    save_figure(fig, path)


def plot_control_share(path: Path, s: dict) -> None:
    """Packets the P4 SFU's control plane handled, by type, as a share of all packets into the SFU."""
    kinds = sorted(s["cpu_packets_by_kind"])
    shares = [100 * s["cpu_packets_by_kind"][k] / max(1, s["sfu_packets_in"]) for k in kinds]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(kinds, shares)
    ax.set_ylabel("% of packets into the SFU")
    ax.set_title(f"control-plane share by packet type (total {100 * s['cpu_packets_fraction']:.2f}%)")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path)

"""Plots of a ``netkit grace bench`` summary: quality, undecodable frames and stalls against
loss, and (with ``--rd-levels``) zero-loss rate-quality curves."""
from __future__ import annotations

from pathlib import Path

__all__ = ["plot_summary"]


def plot_summary(summary: dict, out: Path) -> list[str]:
    """Write PNGs for ``summary`` into ``out``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    losses = [r["loss"] * 100 for r in summary["by_loss"]]
    schemes = list(summary["schemes"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for s in schemes:
        style = dict(lw=2.5, color="black") if s == "grace" else dict(lw=1.2)
        for ax, key, scale in zip(axes, ("ssim_db", "undecodable_ratio", "stall_ms_per_min"), (1, 100, 1)):
            ax.plot(losses, [r["schemes"][s][key] * scale for r in summary["by_loss"]], marker="o", label=s, **style)
    for ax, title in zip(axes, ("SSIM (dB) of displayed frames", "undecodable frames (%)", "stall (ms per minute)")):
        ax.set_xlabel("packet loss (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{Path(summary['video']).name}: {summary['frames']} frames at {summary['resolution'][0]}x"
                 f"{summary['resolution'][1]}, all schemes at {summary['target_kbps']:.0f} kbps total")
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    plt.close(fig)
    files.append("loss.png")
    rq = summary.get("rate_quality")
    if rq:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for s, pts in rq.items():
            for ax, key in zip(axes, ("ssim_db", "psnr_db")):
                ax.plot([p["kbps"] for p in pts], [p[key] for p in pts], marker="o", label=s,
                        **(dict(lw=2.5, color="black") if s == "grace" else {}))
        for ax, key in zip(axes, ("SSIM (dB)", "PSNR (dB)")):
            ax.set_xlabel("total bitrate (kbps, headers included)")
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle("zero loss: rate-quality")
        fig.tight_layout()
        fig.savefig(out / "rate_quality.png", dpi=110)
        plt.close(fig)
        files.append("rate_quality.png")
    return files

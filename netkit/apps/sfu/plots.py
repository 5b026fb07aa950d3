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
    names = {"rtcp_rr": "RR+REMB", "rtcp_nack": "NACK", "other": "malformed", "rtp": "unknown SSRC",
             "stun": "STUN", "rtcp_remb": "REMB", "rtcp_twcc": "TWCC"}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([names.get(k, k) for k in kinds], shares)
    for i, v in enumerate(shares):
        ax.text(i, v, f"{v:.2f}%", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("% of packets into the SFU")
    ax.set_title(f"control-plane share by packet type (total {100 * s['cpu_packets_fraction']:.2f}%)")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path)


def plot_latency_cdf(path: Path, samples_us: dict[str, list[float]], title: str) -> None:
    """CDFs of per-packet forwarding latency, one line per SFU (log x axis)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, xs in samples_us.items():
        xs = sorted(xs)
        if xs:
            ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))],
                    label=f"{name} (p50 {xs[len(xs) // 2]:.0f} us, p99 {xs[min(len(xs) - 1, int(0.99 * len(xs)))]:.0f} us)")
    ax.set_xscale("log")
    ax.set_xlabel("forwarding latency (us)")
    ax.set_ylabel("fraction of packets")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def plot_fps_step(path: Path, runs: dict[str, dict], step_s: float) -> None:
    """Received fps per second for each receiver of one meeting, one panel per run (sim, live), with the step marked."""
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False, sharey=True)
    for ax, (name, s) in zip(axes[0], runs.items()):
        for r in s["receivers"]:
            if r["meeting"] != "m1":
                continue
            stepped = r["trace"] not in ("none",) and "constant" not in r["trace"]
            ys = r["fps_per_s"]
            ax.step(range(len(ys) + 1), ys + ys[-1:], where="post", lw=2 if stepped else 0.8,
                    label=f"{r['receiver']} <- {r['sender']}" + (" (link steps down)" if stepped else ""))
        for c in s["layer_changes"]:
            ax.axvline(c["t_s"], color="grey", ls=":", lw=0.8)
            ax.text(c["t_s"], 31, f"{c['receiver']}: layer {c['from']}->{c['to']}", fontsize=6, rotation=90,
                    va="top", ha="right")
        ax.axvline(step_s, color="k", ls="--", lw=0.8)
        ax.set_title(f"{name}: received fps per 1 s bin (10 -> 1 Mbit/s at {step_s:g} s)")
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("frames decoded per second")
    axes[0][-1].legend(fontsize=6, loc="center right")
    save_figure(fig, path)

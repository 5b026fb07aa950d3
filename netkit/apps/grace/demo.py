"""`make demo` part: the committed GRACE model against H.264+FEC and concealment on a held-out
clip at 0 % and 30 % packet loss, all at the same total bitrate; then the `grace` app of the
experiment layer over emulation/grace.toml's trace-driven lossy path (simulator)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["demo_part"]

ROOT = Path(__file__).resolve().parents[3]


def demo_part(out: Path) -> list[str]:
    """Run a short bench (40 frames of carphone) and one experiment into ``out``; return the findings."""
    from netkit.experiment.single import run_to_dir
    from netkit.experiment.spec import load_experiment

    from .bench import BenchConfig, run_bench_to_dir

    cfg = BenchConfig(video="carphone_pristine.mp4", losses=(0.0, 0.3), model=str(ROOT / "models/grace/grace.pt"),
                      frames=40, schemes=("h264_fec20", "concealment"), frames_png=True)
    s = run_bench_to_dir(cfg, str(out / "bench"), force=True, command="netkit demo (grace)")
    lines = [f"carphone (held out), {s['frames']} frames {s['resolution'][0]}x{s['resolution'][1]}, "
             f"every scheme at {s['target_kbps']:.0f} kbps total, 10 data packets per frame:"]
    for row in s["by_loss"]:
        for name, m in row["schemes"].items():
            lines.append(f"    loss {row['loss']:4.0%}  {name:12s} SSIM {m['ssim_db']:5.2f} dB  undecodable "
                         f"{m['undecodable_ratio']:6.1%}  stall {m['stall_ms_per_min']:7.0f} ms/min")
    lines.append(f"-> {out}/bench/summary.json, loss.png, frames_loss.png")
    exp = load_experiment(ROOT / "emulation" / "grace.toml", [("apps.0.frames", 40)])
    res = run_to_dir(exp, out / "experiment", force=True, command="netkit demo (grace experiment)")
    m = {k.split(".", 1)[1]: v for k, v in res.metrics.items() if k.startswith("grace.")}
    lines.append(f"emulation/grace.toml (40 frames, trace-driven link, 30 % Bernoulli loss, sim): "
                 f"{m['packets_received']:.0f}/{m['packets_sent']:.0f} packets arrived, undecodable "
                 f"{m['undecodable_ratio']:.1%}, SSIM {m['ssim_db']:.2f} dB, frame delay p95 "
                 f"{m['frame_delay_ms_p95']:.0f} ms -> {out}/experiment/")
    lines.append("    live: sudo netkit run emulation/grace.toml --mode emu --out DIR; "
                 "WebRTC: sudo netkit grace webrtc --out DIR")
    return lines

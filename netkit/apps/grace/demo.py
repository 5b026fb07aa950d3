"""`make demo` part: the committed GRACE model against H.264+FEC and concealment on a held-out
clip, at 0 % and 30 % packet loss, all at the same total bitrate."""
from __future__ import annotations

from pathlib import Path

__all__ = ["demo_part"]

ROOT = Path(__file__).resolve().parents[3]


def demo_part(out: Path) -> list[str]:
    """Run a short bench (60 frames of carphone) into ``out``; return the findings."""
    from .bench import BenchConfig, run_bench_to_dir

    cfg = BenchConfig(video="carphone_pristine.mp4", losses=(0.0, 0.3), model=str(ROOT / "models/grace/grace.pt"),
                      frames=60, schemes=("h264_fec20", "h264_fec50", "concealment"), frames_png=True)
    s = run_bench_to_dir(cfg, str(out), force=True, command="netkit demo (grace)")
    lines = [f"carphone (held out), {s['frames']} frames {s['resolution'][0]}x{s['resolution'][1]}, "
             f"every scheme at {s['target_kbps']:.0f} kbps total, 10 data packets per frame:"]
    for row in s["by_loss"]:
        for name, m in row["schemes"].items():
            lines.append(f"    loss {row['loss']:4.0%}  {name:12s} SSIM {m['ssim_db']:5.2f} dB  undecodable "
                         f"{m['undecodable_ratio']:6.1%}  stall {m['stall_ms_per_min']:7.0f} ms/min")
    lines.append(f"-> {out}/summary.json, loss.png, frames_loss.png")
    return lines

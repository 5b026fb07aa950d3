"""The grace app, same experiment and seed, in the simulator and live (root): decoded-frame metrics side by side.

Each row runs emulation/grace.toml's path (a 6 Mbit/s random-walk trace, 50 ms each way,
100-packet drop-tail queue) with one scheme and loss setting, first with `--mode sim`,
then `--mode emu`, and prints both and their ratio (live / sim). Live, the codec's compute
time is real (one process, one torch thread, sender and receiver on the same event loop),
so frame delays differ; at 128x96 under 25-30 % loss the sender's resync re-decoding does
not keep up on a busy core (see docs/grace.md), which the last row shows.

    PYTHONPATH=. python benchmarks/grace_sim_live.py [--frames 100] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = [  # (scheme, loss, loss model, width, height)
    ("grace", 0.1, "bernoulli", 64, 48),
    ("grace", 0.3, "bernoulli", 64, 48),
    ("grace", 0.3, "ge", 64, 48),
    ("h264_fec20", 0.1, "bernoulli", 64, 48),
    ("h264_fec50", 0.3, "bernoulli", 64, 48),
    ("concealment", 0.3, "bernoulli", 64, 48),
    ("grace", 0.3, "bernoulli", 128, 96),
]
SHOW = ("undecodable_ratio", "ssim_db", "psnr_db", "stall_ms_per_min", "frame_delay_ms_p95", "packets_received")


def main() -> None:
    from netkit.emu.testing import skip_reason
    from netkit.experiment.runner import run
    from netkit.experiment.spec import load_experiment

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    why = skip_reason()
    if why:
        raise SystemExit(f"grace_sim_live: {why}")
    print("| scheme | loss | size | metric | sim | live | live/sim |")
    print("|---|---|---|---|---|---|---|")
    for scheme, loss, model, w, h in ROWS:
        sets = [("apps.0.scheme", scheme), ("links.down.loss", loss), ("links.down.loss_model", model),
                ("apps.0.width", w), ("apps.0.height", h), ("apps.0.frames", args.frames), ("seed", args.seed),
                ("apps.0.kbps", 200.0 * w * h / (128 * 96))]
        out = {}
        for mode in ("sim", "emu"):
            exp = load_experiment(ROOT / "emulation" / "grace.toml", sets + [("mode", mode)])
            out[mode] = {k.split(".", 1)[1]: v for k, v in run(exp).metrics.items() if k.startswith("grace.")}
        for k in SHOW:
            s, li = out["sim"][k], out["emu"][k]
            ratio = f"{li / s:.3f}" if s else ("1 (both 0)" if li == 0 else "-")
            print(f"| {scheme} | {loss:.0%} {model} | {w}x{h} | {k} | {s:.3f} | {li:.3f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()

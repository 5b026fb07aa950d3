"""GRACE codec speed on one CPU thread at the working resolution, against libx264 in the same run.

Encode = the sender's whole per-frame work: analysis transform, per-packet entropy coding and
the decode of its own reference. Decode = the receiver's: parse and entropy-decode every
packet, assemble, synthesis transform. Goal: 30 frames/s decode.

    PYTHONPATH=. python benchmarks/grace_codec.py [--model models/grace/grace.pt] [--frames 60]
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from netkit.apps.grace import data
    from netkit.apps.grace.baselines import ClassicReceiver, ClassicSender
    from netkit.apps.grace.session import GraceReceiver, GraceSender
    from netkit.apps.grace.train import load_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="models/grace/grace.pt")
    ap.add_argument("--video", default="bikes.mp4")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--packets", type=int, default=10)
    args = ap.parse_args()

    model = load_model(args.model)
    frames, fps = data.read_clip(args.video, max_frames=args.frames)
    h, w = frames.shape[1:3]
    res = {"resolution": f"{w}x{h}", "frames": len(frames), "threads": torch.get_num_threads()}
    for level in (0, model.cfg.levels // 2, model.cfg.levels - 1):
        tx = GraceSender(model, h, w, level, packets=args.packets)
        t0 = time.perf_counter()
        pkts = [tx.encode(f) for f in frames]
        t_enc = time.perf_counter() - t0
        rx = GraceReceiver(model, h, w)
        t0 = time.perf_counter()
        for t, ps in enumerate(pkts):
            for p in ps:
                rx.receive_packet(p, float(t))
        t_dec = time.perf_counter() - t0
        kbps = sum(len(p) for ps in pkts for p in ps) * 8 * fps / len(frames) / 1000
        res[f"grace_level{level}"] = {"encode_fps": len(frames) / t_enc, "decode_fps": len(frames) / t_dec,
                                      "kbps": kbps}
    target = res[f"grace_level{model.cfg.levels // 2}"]["kbps"]
    tx = ClassicSender("h264", w, h, fps, target, packets=args.packets)
    t0 = time.perf_counter()
    pkts = [tx.encode(f) for f in frames]
    t_enc = time.perf_counter() - t0
    rx = ClassicReceiver("h264")
    t0 = time.perf_counter()
    for t, ps in enumerate(pkts):
        for p in ps:
            rx.receive_packet(p, float(t))
    t_dec = time.perf_counter() - t0
    res["h264"] = {"encode_fps": len(frames) / t_enc, "decode_fps": len(frames) / t_dec}
    mid = res[f"grace_level{model.cfg.levels // 2}"]
    print(json.dumps(res, indent=2))
    print(f"grace (middle level) decode {mid['decode_fps']:.1f} fps (goal 30: {mid['decode_fps'] / 30:.2f}x), "
          f"encode {mid['encode_fps']:.1f} fps; ratio to libx264 in this run: decode "
          f"{mid['decode_fps'] / res['h264']['decode_fps']:.3f}x, encode {mid['encode_fps'] / res['h264']['encode_fps']:.3f}x")


if __name__ == "__main__":
    main()

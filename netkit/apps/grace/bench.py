"""``netkit grace bench``: one clip through packet loss, GRACE against H.264/VP8 (+FEC) and
concealment, at the same total bitrate.

Two networks. Without ``--trace`` (loss only): frames are captured at the clip's rate, each
frame's packets are paced evenly over one frame interval, every packet passes a netkit loss
element (``netkit.link.loss``: Bernoulli or Gilbert-Elliott, seeded) and arrives after a fixed
one-way delay; feedback (GRACE's masks, the baselines' PLIs) comes back after the same delay,
without loss. With ``--trace FILE`` every run is an experiment of the experiment layer: the
``grace`` app (``app.py``, the same endpoints) in the simulator on a path whose downlink is
the trace with the delay, the loss model and ``--queue``, and whose uplink has the delay
only (``netkit.net.LinkDirection``, the links ``netkit run`` builds). Codec compute time is
not charged in either (virtual time); ``benchmarks/grace_codec.py`` measures it.

GRACE refreshes with a key frame every ``keyint`` frames (default 50, 2 s at 25 fps; the
stage-1/2 models drifted without it, and on the proxies of docs/grace.md longer intervals lose
more under loss), and by default (``in_flight_samples=8``) codes frames whose feedback is not back
against the mean of 8 decodes with losses drawn at the observed rate (session.py); the
baselines send key frames only when a PLI asks.

Bitrate matching: GRACE runs at the chosen level; every baseline's encoder target is then
tuned (a few proportional steps at zero loss) so its total bytes sent, parity and headers
included, match GRACE's total at zero loss.
"""
from __future__ import annotations

import heapq
import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.packet import Packet

from . import data
from .packets import COPY_CHOICES
from .metrics import StreamResult, stream_metrics

__all__ = ["BenchConfig", "SCHEMES", "run_bench", "run_bench_to_dir", "stream_once", "derive_seed"]

#: scheme name -> (codec, FEC redundancy, concealment)
SCHEMES = {
    "grace": ("grace", 0.0, False),
    "h264": ("h264", 0.0, False),
    "h264_fec20": ("h264", 0.2, False),
    "h264_fec50": ("h264", 0.5, False),
    "vp8": ("vp8", 0.0, False),
    "vp8_fec20": ("vp8", 0.2, False),
    "vp8_fec50": ("vp8", 0.5, False),
    "concealment": ("h264", 0.0, True),
}
METRIC_KEYS = ("ssim_db", "psnr_db", "undecodable_ratio", "stall_ms_per_min", "frame_delay_ms_p95", "kbps")


@dataclass(frozen=True)
class BenchConfig:
    """Everything a bench run depends on (written to config.json)."""

    video: str
    losses: tuple[float, ...]
    model: str = "models/grace/grace.pt"
    loss_model: str = "bernoulli"
    loss_burst: float = 3.0
    level: int | None = None
    frames: int | None = None
    packets: int = 10
    delay_ms: float = 50.0
    deadline_ms: float = 400.0
    schemes: tuple[str, ...] | None = None
    seed: int = 0
    keyint: int = 50
    key_copies: int = 2
    in_flight_samples: int = 8
    frames_png: bool = False
    rd_levels: tuple[int, ...] = field(default=())
    trace: str | None = None
    queue: str | None = None

    def validate(self) -> None:
        """Raise ValueError naming the option that is wrong."""
        for p in self.losses:
            if not 0 <= p < 1:
                raise ValueError(f"--loss {p}: expected a rate in [0, 1)")
        if self.loss_model not in ("bernoulli", "gilbert"):
            raise ValueError(f"--loss-model {self.loss_model}: expected bernoulli or gilbert")
        if not 1 <= self.packets <= 16:
            raise ValueError(f"--packets {self.packets}: expected 1..16")
        if self.delay_ms < 0 or self.deadline_ms <= 0:
            raise ValueError("--delay must be >= 0 and --deadline > 0")
        if self.keyint < 0:
            raise ValueError(f"--keyint {self.keyint}: expected >= 0 (0: key frames only when asked)")
        if self.key_copies not in COPY_CHOICES:
            raise ValueError(f"--key-copies {self.key_copies}: expected 1, 2 or 3")
        if not 0 <= self.in_flight_samples <= 16:
            raise ValueError(f"--in-flight-samples {self.in_flight_samples}: expected 0..16")
        if self.frames is not None and self.frames < 2:
            raise ValueError(f"--frames {self.frames}: expected >= 2")
        for s in self.schemes or ():
            if s not in SCHEMES:
                raise ValueError(f"--schemes: unknown scheme {s!r} (known: {', '.join(SCHEMES)})")
        if self.queue is not None and self.trace is None:
            raise ValueError("--queue needs --trace (the loss-only network has no queue)")
        if self.trace is not None:
            from netkit.errors import UserError

            try:
                self.link_direction(0.0).validate("links.down")
            except UserError as exc:
                opt = "--queue" if exc.key.endswith("queue") else "--trace"
                raise ValueError(f"{opt} {self.queue if opt == '--queue' else self.trace}: {exc.message}") from None
        if "grace" in (self.schemes or SCHEMES):  # the codec is read before the clip is decoded
            from .train import load_model

            load_model(self.model)

    def link_direction(self, loss: float):
        """The downlink of the trace-driven network at loss rate ``loss`` (``--trace`` runs)."""
        from netkit.net.direction import LinkDirection

        return LinkDirection(self.trace, delay_ms=self.delay_ms, loss=loss,
                             loss_model="ge" if self.loss_model == "gilbert" else "bernoulli",
                             loss_burst=self.loss_burst, queue=self.queue, log=False)


def derive_seed(seed: int, name: str) -> int:
    """The one place bench seeds come from: the run seed and a component name."""
    return zlib.crc32(f"{seed}:{name}".encode()) & 0x7FFFFFFF


def _loss_element(cfg: BenchConfig, p: float):
    seed = derive_seed(cfg.seed, f"loss/{p}")
    if cfg.loss_model == "gilbert":
        return GilbertElliottLoss.from_rate(p, mean_burst=cfg.loss_burst, seed=seed)
    return BernoulliLoss(p, seed=seed)


def stream_once(frames: np.ndarray, fps: float, sender, receiver, loss, delay_ms: float,
                deadline_ms: float, is_rendered=lambda d: True) -> StreamResult:
    """Drive a sans-I/O sender/receiver pair over the paced, lossy, delayed path."""
    iv = 1000.0 / fps
    n = len(frames)
    events: list[tuple[float, int, str, object]] = []
    seq = 0

    def push(t: float, kind: str, obj: object = None) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, obj))
        seq += 1

    for t in range(n):
        push(t * iv, "capture", t)
    images: list[np.ndarray | None] = [None] * n
    render: list[float | None] = [None] * n
    sent_bytes = 0

    def after_receiver(now: float, decoded) -> None:
        for d in decoded:
            if d.frame < n and is_rendered(d) and d.time <= d.frame * iv + deadline_ms:
                images[d.frame], render[d.frame] = d.image, d.time
        fb = receiver.feedback_to_send()
        if fb is not None:
            push(now + delay_ms, "feedback", fb)
        timer = receiver.next_timer()
        if timer is not None:
            push(max(timer, now), "timer")

    while events:
        now, _, kind, obj = heapq.heappop(events)
        if kind == "capture":
            pkts = sender.encode(frames[obj], now)
            for i, p in enumerate(pkts):
                t_send = now + i * iv / len(pkts)
                sent_bytes += len(p)
                us = round(t_send * 1000)
                loss.enqueue(Packet(len(p), p, sent=us), us)
                for _, pkt in loss.dequeue(us):
                    push(t_send + delay_ms, "arrive", pkt.data)
        elif kind == "arrive":
            after_receiver(now, receiver.receive_packet(obj, now))
        elif kind == "timer":
            after_receiver(now, receiver.handle_timer(now))
        elif kind == "feedback":
            sender.receive_feedback(obj, now)
    return StreamResult(images, render, [t * iv for t in range(n)], sent_bytes, iv)


class _Runner:
    """Builds senders/receivers per scheme and runs them (bitrate matching included)."""

    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.frames, self.fps = data.read_clip(cfg.video, max_frames=cfg.frames)
        self.h, self.w = self.frames.shape[1:3]
        self._model = None
        self._kbps: dict[str, float] = {}

    @property
    def model(self):
        if self._model is None:
            import torch

            from .train import load_model

            torch.set_num_threads(1)
            self._model = load_model(self.cfg.model)
        return self._model

    def level(self) -> int:
        return self.cfg.level if self.cfg.level is not None else self.model.cfg.levels // 2

    def pair(self, scheme: str, kbps: float | None = None, level: int | None = None):
        from .baselines import ClassicReceiver, ClassicSender
        from .session import GraceReceiver, GraceSender

        codec, fec, conceal = SCHEMES[scheme]
        iv = 1000.0 / self.fps
        if codec == "grace":
            lv = self.level() if level is None else level
            return (GraceSender(self.model, self.h, self.w, lv, packets=self.cfg.packets, keyframe_interval=self.cfg.keyint,
                                key_copies=self.cfg.key_copies, in_flight_samples=self.cfg.in_flight_samples),
                    GraceReceiver(self.model, self.h, self.w, wait_ms=iv))
        return (ClassicSender(codec, self.w, self.h, self.fps, kbps, packets=self.cfg.packets, fec=fec, slices=conceal),
                ClassicReceiver(codec, conceal=conceal, wait_ms=iv))

    def run(self, scheme: str, loss_rate: float, kbps: float | None = None, level: int | None = None) -> StreamResult:
        if self.cfg.trace is not None:
            return self.run_experiment(scheme, loss_rate, kbps, level)
        tx, rx = self.pair(scheme, kbps, level)
        loss = _loss_element(self.cfg, loss_rate)
        grace = SCHEMES[scheme][0] == "grace"
        return stream_once(self.frames, self.fps, tx, rx, loss, self.cfg.delay_ms, self.cfg.deadline_ms,
                           is_rendered=(lambda d: d.received > 0) if grace else (lambda d: True))

    def experiment(self, scheme: str, loss_rate: float, kbps: float | None = None, level: int | None = None):
        """The experiment of one ``--trace`` run: the grace app on a path with the trace-driven downlink."""
        from netkit.experiment.spec import parse_experiment

        cfg = self.cfg
        down = {k: val for k, val in cfg.link_direction(loss_rate).to_dict().items() if val is not None}
        span_s = len(self.frames) / self.fps + cfg.deadline_ms / 1000 + 2.0
        app = {"module": "grace", "scheme": scheme, "clip": (self.frames, self.fps), "frames": len(self.frames),
               "packets": cfg.packets, "keyint": cfg.keyint, "key_copies": cfg.key_copies,
               "in_flight_samples": cfg.in_flight_samples, "deadline_ms": cfg.deadline_ms,
               "kbps": kbps if kbps is not None else 200.0}
        if SCHEMES[scheme][0] == "grace":
            app.update(codec_model=self.model, level=self.level() if level is None else level)
        table = {"name": f"grace-bench-{scheme}-{loss_rate}", "seed": cfg.seed, "duration_s": span_s,
                 "topology": {"kind": "path"}, "links": {"down": down, "up": {"delay_ms": cfg.delay_ms}},
                 "apps": [app]}
        return parse_experiment(table, "netkit grace bench")

    def run_experiment(self, scheme: str, loss_rate: float, kbps: float | None = None,
                       level: int | None = None) -> StreamResult:
        """One scheme through the trace-driven path in the experiment layer's simulator."""
        from netkit.experiment.runner import run_sim

        return run_sim(self.experiment(scheme, loss_rate, kbps, level)).apps[0].stream_result()

    def matched_kbps(self, scheme: str, target_kbps: float) -> float:
        """Encoder target that makes ``scheme``'s total zero-loss bitrate match ``target_kbps``."""
        setting = target_kbps / (1 + SCHEMES[scheme][1])
        for _ in range(4):
            got = self.run(scheme, 0.0, kbps=setting)
            actual = got.bytes_sent * 8 / (len(self.frames) * got.frame_interval_ms)
            if abs(actual / target_kbps - 1) < 0.03:
                break
            setting *= target_kbps / actual
        return setting


def _mean_metrics(rows: list[dict]) -> dict:
    out = {}
    for k in METRIC_KEYS:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def run_bench(cfg: BenchConfig, progress=None) -> tuple[dict, dict]:
    """(summary dict, displayed images at the loss closest to 30 % per scheme)."""
    cfg.validate()
    r = _Runner(cfg)
    schemes = list(cfg.schemes or SCHEMES)
    if "grace" not in schemes:
        schemes.insert(0, "grace")
    grace0 = r.run("grace", 0.0)
    target = grace0.bytes_sent * 8 / (len(r.frames) * grace0.frame_interval_ms)
    settings = {s: r.matched_kbps(s, target) for s in schemes if s != "grace"}
    by_loss, shown = [], {}
    p_show = min(cfg.losses, key=lambda p: abs(p - 0.3))
    for p in cfg.losses:
        row = {"loss": p, "schemes": {}}
        for s in schemes:
            res = grace0 if (s == "grace" and p == 0) else r.run(s, p, kbps=settings.get(s))
            row["schemes"][s] = stream_metrics(r.frames, res)
            if p == p_show:
                shown[s] = _displayed(res, r.frames.shape[1:])
            if progress:
                progress(p, s, row["schemes"][s])
        by_loss.append(row)
    summary = {
        "video": str(data.clip_path(cfg.video)), "frames": len(r.frames), "fps": r.fps,
        "resolution": [r.w, r.h], "grace_level": r.level(), "target_kbps": target,
        "network": ({"links": {"down": cfg.link_direction(0.0).to_dict() | {"loss": "per row of by_loss"},
                               "up": {"delay_ms": cfg.delay_ms}}, "engine": "experiment layer (sim)"}
                    if cfg.trace else {"loss_model": cfg.loss_model, "delay_ms": cfg.delay_ms, "engine": "loss only"}),
        "encoder_kbps_settings": settings, "losses": list(cfg.losses),
        "schemes": {s: _mean_metrics([row["schemes"][s] for row in by_loss]) for s in schemes},
        "by_loss": by_loss,
    }
    if cfg.rd_levels:
        summary["rate_quality"] = rate_quality(r, cfg.rd_levels)
    shown["original"] = list(r.frames)
    shown["_loss"] = p_show
    return summary, shown


def rate_quality(r: _Runner, levels: tuple[int, ...]) -> dict:
    """Zero-loss rate-quality points: GRACE at ``levels``; H.264 and VP8 matched to each."""
    out: dict[str, list[dict]] = {"grace": [], "h264": [], "vp8": []}
    for lv in levels:
        m = stream_metrics(r.frames, r.run("grace", 0.0, level=lv))
        out["grace"].append({"level": lv, **m})
        for s in ("h264", "vp8"):
            out[s].append(stream_metrics(r.frames, r.run(s, 0.0, kbps=r.matched_kbps(s, m["kbps"]))))
    return out


def _displayed(res: StreamResult, shape: tuple[int, ...]) -> list[np.ndarray]:
    """What the viewer sees per slot: the slot's frame, else the last rendered one, else black."""
    shown, last = [], np.zeros(shape, np.uint8)
    for img in res.images:
        last = img if img is not None else last
        shown.append(last)
    return shown


def write_example_png(path: Path, shown: dict, schemes: list[str], picks: int = 3) -> list[int]:
    """Side-by-side frames (original | scheme ...) at frames where the schemes differ most."""
    from PIL import Image, ImageDraw

    from .metrics import frame_ssim

    orig = shown["original"]
    n = len(orig)
    cand = list(range(n // 6, n, max(1, n // 24)))
    score = {t: max(frame_ssim(orig[t], shown["grace"][t]) - frame_ssim(orig[t], shown[s][t])
                    for s in schemes if s != "grace") for t in cand}
    ts = sorted(sorted(cand, key=lambda t: -score[t])[:picks])
    h, w = orig[0].shape[:2]
    cols = ["original"] + schemes
    label = 14
    canvas = Image.new("RGB", (w * 2 * len(cols), (h * 2 + label) * len(ts)), "white")
    draw = ImageDraw.Draw(canvas)
    for r_, t in enumerate(ts):
        for c, name in enumerate(cols):
            tile = Image.fromarray(shown[name][t]).resize((w * 2, h * 2), Image.NEAREST)
            y = r_ * (h * 2 + label)
            canvas.paste(tile, (c * w * 2, y + label))
            draw.text((c * w * 2 + 2, y + 1), f"{name} #{t}", fill="black")
    canvas.save(path)
    return ts


def run_bench_to_dir(cfg: BenchConfig, out: str, force: bool = False, command: str = "", progress=None) -> dict:
    """Run the bench and write DIR/config.json, summary.json (and example frames) atomically."""
    from netkit.experiment.output import staged_output, write_json

    summary, shown = run_bench(cfg, progress=progress)
    with staged_output(out, force=force) as stage:
        write_json(stage / "config.json", {"command": command, "bench": asdict(cfg)})
        if cfg.frames_png:
            names = [s for s in summary["schemes"] if s in ("grace", "h264_fec20", "h264_fec50", "vp8_fec20", "concealment")]
            summary["example_frames"] = {"file": "frames_loss.png", "loss": shown["_loss"],
                                         "frames": write_example_png(stage / "frames_loss.png", shown, names)}
        from .plots import plot_summary

        summary["plots"] = plot_summary(summary, stage)
        write_json(stage / "summary.json", summary)
    return summary

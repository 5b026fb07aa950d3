"""The latency predictors in torch: a small transformer (SwiftQueue/NTT style) and a GRU baseline.

Both read a window of ACK-feedback features (`features.window_features`, oldest
first) and predict the next packet's queueing latency in the L and the C queue as
a correction to the last value seen in each (`base`): output = base + scale * head.

`Transformer`: a linear embedding of each sample plus a learned position, a stack
of pre-norm encoder layers, and a head over the newest token and the mean of all
tokens (about 100k parameters at the defaults). `Gru`: one GRU layer and the same head.

Model files (`save_model` / `load_model`) carry a format name and version, the
architecture's config and the input shape (window, features); a file that does not
match this code is refused with an error that names it (`ModelFileError`).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from netkit.apps.swiftqueue.features import N_FEATURES, WINDOW, window_features
from netkit.errors import UserError

FORMAT = "netkit-swiftqueue-predictor"
VERSION = 1
OUT_SCALE_MS = 10.0


class ModelFileError(UserError):
    """A model file that is missing, of another format or version, or of the wrong shape."""


class Transformer(nn.Module):
    """A small encoder over feedback windows (see the module docstring)."""

    def __init__(self, window: int = WINDOW, n_features: int = N_FEATURES, d_model: int = 64, heads: int = 4,
                 layers: int = 2, ff: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Linear(2 * d_model, 64), nn.GELU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """(N, W, F) features and (N, 2) last values -> (N, 2) predicted L and C latency (ms)."""
        h = self.norm(self.encoder(self.embed(x) + self.pos))
        z = torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)
        return base + OUT_SCALE_MS * self.head(z)


class Gru(nn.Module):
    """The recurrent baseline: one GRU layer over the same windows and the same head."""

    def __init__(self, window: int = WINDOW, n_features: int = N_FEATURES, hidden: int = 64) -> None:
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, 64), nn.GELU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """(N, W, F) features and (N, 2) last values -> (N, 2) predicted L and C latency (ms)."""
        out, _ = self.rnn(x)
        z = torch.cat([out[:, -1], out.mean(dim=1)], dim=-1)
        return base + OUT_SCALE_MS * self.head(z)


KINDS = {"transformer": Transformer, "gru": Gru}


def build(kind: str, config: dict[str, Any]) -> nn.Module:
    """A fresh model of `kind` with `config`."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    return KINDS[kind](**config)


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_model(path: str | os.PathLike, model: nn.Module, kind: str, config: dict[str, Any],
               extra: dict[str, Any] | None = None) -> None:
    """Write the model with its format, version, kind, config and input shape (atomically)."""
    blob = {"format": FORMAT, "version": VERSION, "kind": kind, "config": dict(config),
            "input_shape": [config.get("window", WINDOW), config.get("n_features", N_FEATURES)],
            "state_dict": model.state_dict(), "extra": dict(extra or {})}
    tmp = f"{path}.tmp"
    torch.save(blob, tmp)
    os.replace(tmp, path)


def load_model(path: str | os.PathLike) -> nn.Module:
    """The model in `path`, in eval mode; ModelFileError naming the file if it is not one this code can run."""
    name = str(path)
    try:
        blob = torch.load(name, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"{name}: no such model file") from None
    except Exception as exc:  # torch raises many kinds for a file that is not a model
        raise ModelFileError(f"{name}: not a readable model file ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelFileError(f"{name}: not a {FORMAT} file")
    if blob.get("version") != VERSION:
        raise ModelFileError(f"{name}: model format version {blob.get('version')!r}, this netkit reads {VERSION}")
    shape = list(blob.get("input_shape", []))
    if shape != [WINDOW, N_FEATURES]:
        raise ModelFileError(f"{name}: input shape {shape} (window, features), this netkit builds "
                             f"[{WINDOW}, {N_FEATURES}]")
    try:
        model = build(blob["kind"], blob["config"])
        model.load_state_dict(blob["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{name}: weights do not fit the {blob.get('kind')!r} model ({first})") from None
    model.eval()
    model.meta = {k: blob[k] for k in ("kind", "config", "input_shape", "extra")}  # type: ignore[attr-defined]
    return model


class TorchPredictor:
    """Online wrapper for the marking policy: keeps the last WINDOW samples, runs the model at most every
    `infer_every_us` and reuses its answer for the packets sent in between (batched inference over time)."""

    name = "model"

    def __init__(self, model: nn.Module, infer_every_us: int = 1000) -> None:
        # one intra-op thread: a forward pass this small only loses time synchronising threads (and on a
        # busy machine a second thread's spin-waits made each pass ~50x slower)
        torch.set_num_threads(1)
        self.model = model
        self.infer_every_us = infer_every_us
        self.buf = np.zeros((2 * WINDOW, 5), dtype=np.int64)
        self.n = 0
        self.min_rtt: int | None = None
        self._cache: tuple[float, float] = (0.0, 0.0)
        self._cache_at: int | None = None
        self._fresh = False
        self.inferences = 0

    def observe(self, s) -> None:
        """Take one feedback sample (`sender.Feedback`)."""
        if self.n == len(self.buf):
            self.buf[:WINDOW] = self.buf[WINDOW:]
            self.n = WINDOW
        self.buf[self.n] = (s.ack_us, s.sent_us, s.size, 1 if s.in_l else 0, s.rtt_us)
        self.n += 1
        if self.min_rtt is None or s.rtt_us < self.min_rtt:
            self.min_rtt = s.rtt_us
        self._fresh = True

    def predict(self, now: int) -> tuple[float, float]:
        """(L, C) latency in ms for a packet sent now (the cached answer between inferences)."""
        if self.n < WINDOW:
            return self._fallback()
        if self._fresh and (self._cache_at is None or now - self._cache_at >= self.infer_every_us):
            raw = self.buf[self.n - WINDOW:self.n][None]
            x, base = window_features(raw, np.array([now]), np.array([self.min_rtt]))
            with torch.inference_mode():
                y = self.model(torch.from_numpy(x), torch.from_numpy(base))[0]
            self._cache = (max(float(y[0]), 0.0), max(float(y[1]), 0.0))  # a latency is never negative
            self._cache_at = now
            self._fresh = False
            self.inferences += 1
        return self._cache

    def _fallback(self) -> tuple[float, float]:
        """Before a full window: the last value of each queue."""
        vals = [0.0, 0.0]
        mn = self.min_rtt or 0
        for ack, sent, size, in_l, rtt in self.buf[:self.n]:
            vals[0 if in_l else 1] = (rtt - mn) / 1000.0
        return vals[0], vals[1]

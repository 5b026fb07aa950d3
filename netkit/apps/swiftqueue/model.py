"""The latency predictors in torch: a small transformer (SwiftQueue/NTT style) and a GRU baseline.

Both read a window of ACK-feedback features (`features.window_features`, oldest
first) and predict the next packet's queueing latency in the L and the C queue as
a correction to the last value seen in each (`base`): output = base + scale * head.
With `decision=True` (`netkit swiftqueue train --target decision`) the same trunk ends in
one logit instead: the log-odds that a packet sent now into C would leave at least the
training margin sooner than into L (`decision.py`); `base` is then an input feature only.

`Transformer`: a linear embedding of each sample plus a learned position, a stack
of pre-norm encoder layers, and a head over the newest token and the mean of all
tokens (about 100k parameters at the defaults). `Gru`: one GRU layer and the same head.

Model files (`save_model` / `load_model`) carry a format name and version, the
architecture's config, the feature spec (`features.FeatureSpec`: how the feedback
history becomes tokens) and the input shape (tokens, features); a file that does not
match this code is refused with an error that names it (`ModelFileError`). Version 1
files (no feature spec) are read with the legacy spec they were trained with.

`TorchPredictor` is the sender's online wrapper: incremental features
(`features.OnlineFeatures`) and, for batch-of-one inference, the model traced and
frozen with TorchScript (`compile_for_inference`: the same weights and arithmetic,
identical predictions, without the per-module Python dispatch that dominates a
forward pass this small).
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from netkit.apps.swiftqueue.features import LEGACY, N_FEATURES, WINDOW, FeatureSpec, OnlineFeatures
from netkit.errors import UserError

FORMAT = "netkit-swiftqueue-predictor"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no feature spec in the file, the legacy one
OUT_SCALE_MS = 10.0


class ModelFileError(UserError):
    """A model file that is missing, of another format or version, or of the wrong shape."""


class Transformer(nn.Module):
    """A small encoder over feedback windows (see the module docstring)."""

    def __init__(self, window: int = WINDOW, n_features: int = N_FEATURES, d_model: int = 64, heads: int = 4,
                 layers: int = 2, ff: int = 256, dropout: float = 0.0, activation: str = "gelu",
                 decision: bool = False) -> None:
        super().__init__()
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation {activation!r}: expected gelu or relu")
        self.decision = bool(decision)
        self.embed = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        # the encoder's feed-forward activation: relu costs a fraction of exact GELU's erf on the sender's CPU
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True, norm_first=True,
                                           activation=activation)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Linear(2 * d_model, 64), nn.GELU(), nn.Linear(64, 1 if decision else 2))

    def forward(self, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """(N, W, F) features and (N, 2) last values -> (N, 2) predicted L and C latency (ms), or with `decision`
        (N, 1) the logit of "C is faster by the margin"."""
        h = self.norm(self.encoder(self.embed(x) + self.pos))
        z = torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)
        return _output(self.head(z), base, self.decision)


class Gru(nn.Module):
    """The recurrent baseline: one GRU layer over the same windows and the same head."""

    def __init__(self, window: int = WINDOW, n_features: int = N_FEATURES, hidden: int = 64,
                 decision: bool = False) -> None:
        super().__init__()
        self.decision = bool(decision)
        self.rnn = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, 64), nn.GELU(), nn.Linear(64, 1 if decision else 2))

    def forward(self, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """(N, W, F) features and (N, 2) last values -> (N, 2) predicted L and C latency (ms), or with `decision`
        (N, 1) the logit of "C is faster by the margin"."""
        out, _ = self.rnn(x)
        z = torch.cat([out[:, -1], out.mean(dim=1)], dim=-1)
        return _output(self.head(z), base, self.decision)


def _output(head: torch.Tensor, base: torch.Tensor, decision: bool) -> torch.Tensor:
    """A latency model's correction to the last values, or a decision model's logit as it is."""
    return head if decision else base + OUT_SCALE_MS * head


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
               extra: dict[str, Any] | None = None, spec: FeatureSpec = LEGACY) -> None:
    """Write the model with its format, version, kind, config, feature spec and input shape (atomically)."""
    shape = [config.get("window", WINDOW), config.get("n_features", N_FEATURES)]
    if shape != [spec.tokens, spec.n_features]:
        raise ValueError(f"model config's input {shape} does not fit the feature spec's "
                         f"[{spec.tokens}, {spec.n_features}]")
    blob = {"format": FORMAT, "version": VERSION, "kind": kind, "config": dict(config),
            "features": spec.to_dict(),
            "input_shape": shape,
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
    if blob.get("version") not in READABLE_VERSIONS:
        raise ModelFileError(f"{name}: model format version {blob.get('version')!r}, this netkit reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
    try:
        spec = FeatureSpec.from_dict(blob.get("features") if blob["version"] >= 2 else None)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{name}: bad feature spec ({exc})") from None
    shape = list(blob.get("input_shape", []))
    if shape != [spec.tokens, spec.n_features]:
        raise ModelFileError(f"{name}: input shape {shape} (tokens, features), its feature spec builds "
                             f"[{spec.tokens}, {spec.n_features}]")
    try:
        model = build(blob["kind"], blob["config"])
        model.load_state_dict(blob["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{name}: weights do not fit the {blob.get('kind')!r} model ({first})") from None
    model.eval()
    model.meta = {k: blob[k] for k in ("kind", "config", "input_shape", "extra")}  # type: ignore[attr-defined]
    model.meta["spec"] = spec  # type: ignore[attr-defined]
    return model


def is_decision_model(model: nn.Module) -> bool:
    """Whether `model` outputs the decision logit (`--target decision`) rather than two latencies."""
    return bool(getattr(model, "decision", False))


def model_spec(model: nn.Module) -> FeatureSpec:
    """The feature spec a model was trained with (loaded models carry it; a fresh one is the legacy spec's)."""
    meta = getattr(model, "meta", None)
    return meta["spec"] if meta and "spec" in meta else LEGACY


def compile_for_inference(model: nn.Module, spec: FeatureSpec) -> Any:
    """`model` traced for one (1, tokens, F) window and frozen (TorchScript): identical outputs, less dispatch."""
    torch.set_num_threads(1)
    x = torch.zeros(1, spec.tokens, spec.n_features)
    base = torch.zeros(1, 2)
    with torch.inference_mode(), warnings.catch_warnings():
        # TorchScript is deprecated in favour of torch.compile/export, which need a compiler toolchain at run
        # time (compile) or run the graph through Python dispatch again (export); trace+freeze still works
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.freeze(torch.jit.trace(model.eval(), (x, base)))
        for _ in range(3):  # TorchScript optimises the graph on the first runs
            traced(x, base)
    return traced


PREPARE_AHEAD_US = 1000  # `prepare` speculates only for a send at least this far ahead (else: inline, as before)
PREPARED_SLACK_US = 1000  # a speculation serves a send this close to the time it was made for


class TorchPredictor:
    """Online wrapper for the marking policy: keeps the feedback history (`OnlineFeatures`), runs the model at most
    every `infer_every_us` when new feedback has arrived, and reuses its answer for the packets sent in between
    (batched inference over time). `compiled`: run the TorchScript-frozen model (`compile_for_inference`) rather
    than the module (same predictions; the module is kept for comparison in the benchmark).

    `prepare(now, at)` moves the forward pass off the send path: told at an ACK when the next packet is expected
    to leave, it computes then the answer the send would compute (leaving the history's state as it was), and
    the send takes it if it comes within `PREPARED_SLACK_US` of that time with no feedback or send since
    (otherwise the send infers itself). Live, a packet no longer waits for the model. A send exactly at the
    expected time gets exactly its own answer; one up to 1 ms off gets the answer for the expected time, as a
    send within `infer_every_us` of an inference does. `speculations` counts the forward passes `prepare` ran."""

    name = "model"

    def __init__(self, model: nn.Module, infer_every_us: int = 1000, compiled: bool = True) -> None:
        # one intra-op thread: a forward pass this small only loses time synchronising threads (and on a
        # busy machine a second thread's spin-waits made each pass ~50x slower)
        torch.set_num_threads(1)
        self.model = model
        self.spec = model_spec(model)
        self._run = compile_for_inference(model, self.spec) if compiled else model
        self.infer_every_us = infer_every_us
        self.history = OnlineFeatures(self.spec)
        self._x = torch.zeros(1, self.spec.tokens, self.spec.n_features)
        self._base = torch.zeros(1, 2)
        self._cache: tuple[float, float] = (0.0, 0.0)
        self._cache_at: int | None = None
        self._fresh = False
        self._fallback_v = [0.0, 0.0]
        self.inferences = 0
        self._changes = 0  # feedback and sends seen: a speculation is valid only for the history it was made on
        self._prepared: tuple[int, int, list[float]] | None = None
        self.prepared_used = 0
        self.speculations = 0

    @property
    def min_rtt(self) -> int | None:
        """The flow's minimum RTT so far (µs)."""
        return self.history.min_rtt

    def observe(self, s) -> None:
        """Take one feedback sample (`sender.Feedback`)."""
        self.history.observe(s.ack_us, s.sent_us, s.size, s.in_l, s.rtt_us)
        self._fallback_v[0 if s.in_l else 1] = float(s.rtt_us - self.history.min_rtt) / 1000.0
        self._fresh = True
        self._changes += 1

    def sent(self, now: int, in_l: bool) -> None:
        """The policy sent a packet into L or C (the in-flight features count it)."""
        if self.spec.inflight:
            self.history.sent(now, in_l)
            self._fresh = True
            self._changes += 1

    def _due(self, now: int) -> bool:
        return self._fresh and (self._cache_at is None or now - self._cache_at >= self.infer_every_us)

    def _forward(self, now: int, prune: bool = True) -> list[float]:
        x, base = self.history.features(now, prune)
        self._x[0] = torch.from_numpy(x)
        self._base[0] = torch.from_numpy(base)
        with torch.inference_mode():
            return self._run(self._x, self._base)[0].tolist()

    def prepare(self, now: int, at: int) -> None:
        """At `now` (an ACK), the next packet is expected to leave at `at`: compute its answer now if the send
        would infer (see the class docstring); nothing when `at` is less than `PREPARE_AHEAD_US` away."""
        if at - now < PREPARE_AHEAD_US or len(self.history) < self.spec.history or not self._due(at):
            return
        p = self._prepared
        if p is None or p[0] != at or p[1] != self._changes:
            self._prepared = (at, self._changes, self._forward(at, prune=False))
            self.speculations += 1

    def _infer(self, now: int) -> list[float] | None:
        """The model's raw output at `now` when it is due (new feedback, `infer_every_us` since the last), else
        None (the caller keeps its cached answer); a matching `prepare`d answer saves the forward pass."""
        if not self._due(now):
            return None
        p, self._prepared = self._prepared, None
        if p is not None and p[1] == self._changes and abs(now - p[0]) <= PREPARED_SLACK_US:
            y = p[2]
            self.prepared_used += 1
        else:
            y = self._forward(now)
        self._cache_at = now
        self._fresh = False
        self.inferences += 1
        return y

    def predict(self, now: int) -> tuple[float, float]:
        """(L, C) latency in ms for a packet sent now (the cached answer between inferences)."""
        if len(self.history) < self.spec.history:
            return self._fallback_v[0], self._fallback_v[1]
        y = self._infer(now)
        if y is not None:
            self._cache = (max(y[0], 0.0), max(y[1], 0.0))  # a latency is never negative
        return self._cache

    def probability(self, now: int) -> float:
        """A decision model's P(a packet sent now into C leaves at least the margin sooner than into L); 0 (stay
        in L) until a full history has arrived. The cached answer between inferences."""
        if len(self.history) < self.spec.history:
            return 0.0
        y = self._infer(now)
        if y is not None:
            self._cache = (1.0 / (1.0 + math.exp(-max(min(y[0], 60.0), -60.0))), 0.0)
        return self._cache[0]

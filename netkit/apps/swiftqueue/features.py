"""Features of a history of ACK-feedback samples, one definition for training (batched) and the sender (online).

A raw sample is (ack_us, sent_us, size, in_l, rtt_us) (`sender.Feedback`). At a
prediction time `now`, with the flow's minimum RTT so far, each of the last
`spec.history` samples becomes NTT-style features: age of its feedback and of its
sending, its queueing delay estimate (RTT minus the minimum), its queue, its size,
the gap to the sample before it, and each queue's delay carried forward (the newest
sample of that queue so far); with `spec.staleness` also how old each carried value
is (time since the last sample of each queue); with `spec.inflight` also the flow's
own packets in flight in each queue at `now` (sent in the last second, not yet
acknowledged; what the sender knows of its own load on each queue), the same value
on every token.

A `FeatureSpec` says how the history becomes tokens: the newest `recent` samples
one token each (full resolution), and before them `blocks` blocks of `block`
samples, each aggregated into one token (the mean of its samples' features), as in
the Network Traffic Transformer's hierarchical aggregation: a longer history for
the same number of tokens. `LEGACY` (32 samples, no aggregation, 8 features) is the
first model's. `base` is the last queueing delay seen in each queue within the
history (the last-value prediction the models correct).

`OnlineFeatures` keeps the sender's history in a ring and builds the same features
for one prediction point (tested equal to `window_features`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

WINDOW = 32
RAW_COLUMNS = ("ack_us", "sent_us", "size", "in_l", "rtt_us")
FEATURES = ("age_ack", "age_sent", "qdelay", "in_l", "size", "gap", "qdelay_l", "qdelay_c")
STALENESS_FEATURES = ("age_l", "age_c")
INFLIGHT_FEATURES = ("inflight_l", "inflight_c")
INFLIGHT_HORIZON_US = 1_000_000  # a packet not acknowledged within this is no longer counted in flight (lost)
INFLIGHT_SCALE = 10.0  # packets
N_FEATURES = len(FEATURES)
AGE_ACK_SCALE_US = 50_000.0


@dataclass(frozen=True)
class FeatureSpec:
    """How a history of samples becomes model tokens (see the module docstring)."""

    recent: int = WINDOW
    blocks: int = 0
    block: int = 8
    staleness: bool = False
    inflight: bool = False

    def __post_init__(self) -> None:
        if self.recent < 1 or self.blocks < 0 or self.block < 1:
            raise ValueError(f"feature spec {self}: recent >= 1, blocks >= 0, block >= 1 expected")

    @property
    def history(self) -> int:
        """Samples read per prediction point."""
        return self.recent + self.blocks * self.block

    @property
    def tokens(self) -> int:
        """Tokens per prediction point (the model's window)."""
        return self.recent + self.blocks

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in column order."""
        return FEATURES + (STALENESS_FEATURES if self.staleness else ()) + (INFLIGHT_FEATURES if self.inflight else ())

    @property
    def n_features(self) -> int:
        """Features per token."""
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        """For model files and cards."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> FeatureSpec:
        """The spec written by `to_dict` (None: the legacy spec of files that carry none)."""
        if d is None:
            return LEGACY
        unknown = set(d) - {"recent", "blocks", "block", "staleness", "inflight"}
        if unknown:
            raise ValueError(f"unknown feature spec keys {sorted(unknown)}")
        return cls(int(d.get("recent", WINDOW)), int(d.get("blocks", 0)), int(d.get("block", 8)),
                   bool(d.get("staleness", False)), bool(d.get("inflight", False)))


LEGACY = FeatureSpec()


def qdelay_ms(rtt_us: np.ndarray, min_rtt_us: np.ndarray) -> np.ndarray:
    """Queueing delay estimate in ms: RTT above the minimum."""
    return (rtt_us - min_rtt_us) / 1000.0


def last_per_queue(qd: np.ndarray, in_l: np.ndarray) -> np.ndarray:
    """(N, 2): the newest queueing delay of the L and of the C samples in each window (newest of any if absent)."""
    n, w = qd.shape
    out = np.empty((n, 2), dtype=np.float64)
    rev = np.arange(w)[::-1]
    for col, mask in ((0, in_l > 0.5), (1, in_l <= 0.5)):
        has = mask.any(axis=1)
        last = w - 1 - np.argmax(mask[:, rev], axis=1)
        vals = qd[np.arange(n), last]
        out[:, col] = np.where(has, vals, qd[:, -1])
    return out


def inflight_counts(run_raw: np.ndarray, now_us: np.ndarray) -> np.ndarray:
    """(N, 2) packets of a run in flight in L and in C at each time in `now_us`: sent in the last
    `INFLIGHT_HORIZON_US` strictly before `now`, acknowledged strictly after (`run_raw`: the run's samples)."""
    now = np.asarray(now_us, dtype=np.int64)
    out = np.zeros((len(now), 2), dtype=np.float64)
    for col, mask in ((0, run_raw[:, 3] > 0), (1, run_raw[:, 3] <= 0)):
        sent = np.sort(run_raw[mask, 1])
        sent_by_ack = run_raw[mask][np.argsort(run_raw[mask, 0], kind="stable")]
        # sent in [now - H, now) minus those of them acknowledged by now (ack <= now)
        n_sent = np.searchsorted(sent, now, side="left") - np.searchsorted(sent, now - INFLIGHT_HORIZON_US, side="left")
        acked = np.searchsorted(sent_by_ack[:, 0], now, side="right")
        # acknowledged by now but sent before the horizon: not in n_sent, so not to subtract
        early = np.array([np.count_nonzero(sent_by_ack[:a, 1] < t - INFLIGHT_HORIZON_US) for a, t in zip(acked, now)],
                         dtype=np.int64) if len(now) else np.zeros(0, dtype=np.int64)
        out[:, col] = n_sent - (acked - early)
    return out


def _tokens(per_sample: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(N, history, F) per-sample features -> (N, tokens, F): older blocks averaged, the recent kept."""
    if not spec.blocks:
        return per_sample
    n, _, f = per_sample.shape
    old = per_sample[:, :spec.blocks * spec.block].reshape(n, spec.blocks, spec.block, f).mean(axis=2)
    return np.concatenate([old, per_sample[:, spec.blocks * spec.block:]], axis=1)


def window_features(raw: np.ndarray, now_us: np.ndarray, min_rtt_us: np.ndarray,
                    spec: FeatureSpec = LEGACY, inflight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, tokens, F) float32 and per-queue base (N, 2) float32 of raw histories (N, history, 5);
    `inflight` (N, 2): the packets in flight per queue at each `now` (`inflight_counts`), needed with
    `spec.inflight`."""
    raw = raw.astype(np.float64)
    now = now_us.astype(np.float64)[:, None]
    mn = min_rtt_us.astype(np.float64)[:, None]
    ack, sent, size, in_l, rtt = (raw[..., i] for i in range(5))
    qd = qdelay_ms(rtt, mn)
    gap = np.diff(sent, axis=1, prepend=sent[:, :1]) / 1000.0
    # each queue's delay carried forward through the history (the latest sample of that queue so far)
    carried = np.empty((raw.shape[0], raw.shape[1], 2))
    carried_age = np.empty((raw.shape[0], raw.shape[1], 2))
    for col, mask in ((0, in_l > 0.5), (1, in_l <= 0.5)):
        idx = np.where(mask, np.arange(raw.shape[1])[None, :], 0)
        idx = np.maximum.accumulate(idx, axis=1)
        carried[..., col] = np.where(mask.cumsum(axis=1) > 0, np.take_along_axis(qd, idx, axis=1), qd[:, :1])
        carried_age[..., col] = now - np.take_along_axis(ack, idx, axis=1)
    cols = [
        (now - ack) / AGE_ACK_SCALE_US, (now - sent) / 100_000.0, qd / 20.0, in_l, size / 1500.0, gap / 10.0,
        carried[..., 0] / 20.0, carried[..., 1] / 20.0,
    ]
    if spec.staleness:
        cols += [carried_age[..., 0] / AGE_ACK_SCALE_US, carried_age[..., 1] / AGE_ACK_SCALE_US]
    if spec.inflight:
        if inflight is None:
            raise ValueError("feature spec with inflight: window_features needs the in-flight counts")
        fl = np.asarray(inflight, dtype=np.float64) / INFLIGHT_SCALE
        cols += [np.broadcast_to(fl[:, :1], qd.shape), np.broadcast_to(fl[:, 1:], qd.shape)]
    x = _tokens(np.stack(cols, axis=-1), spec)
    return x.astype(np.float32), last_per_queue(qd, in_l).astype(np.float32)


def sliding_windows(raw: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """(N - window + 1, window, 5) windows ending at each sample from index window-1 on."""
    idx = np.arange(window - 1, len(raw))[:, None] - np.arange(window)[::-1][None, :]
    return raw[idx]


class OnlineFeatures:
    """The sender's history of feedback samples and the features of one prediction point.

    Per sample, what does not depend on `now` or on the minimum RTT is computed once, as the
    sample arrives (its gap, where the latest sample of each queue was); a prediction then
    needs only a few whole-history numpy operations (no window rebuilt sample by sample).
    """

    def __init__(self, spec: FeatureSpec = LEGACY) -> None:
        self.spec = spec
        h = spec.history
        # columns: ack, sent, size, in_l, rtt, gap_us, index (global) of the latest L / C sample so far
        self._buf = np.zeros((2 * h, 8), dtype=np.float64)
        self._n = 0  # rows used
        self._count = 0  # samples seen in all
        self._last = [-1, -1]  # global index of the latest L and C sample
        self._prev_sent: float | None = None
        self.min_rtt: int | None = None
        # per queue, for the in-flight features: send times in the horizon (in order), how many were sent and
        # how many acknowledged at each of those times, and the acknowledged ones in all
        self._sends: tuple[deque[int], deque[int]] = (deque(), deque())
        self._sent_at: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._acked_at: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._acked = [0, 0]

    def sent(self, now: int, in_l: bool) -> None:
        """The sender sent a packet into L (`in_l`) or C at `now` (for the in-flight features)."""
        q = 0 if in_l else 1
        self._sends[q].append(now)
        self._sent_at[q][now] = self._sent_at[q].get(now, 0) + 1

    def _acknowledged(self, sent_us: int, in_l: bool) -> None:
        q = 0 if in_l else 1
        acked = self._acked_at[q].get(sent_us, 0)
        if self._sent_at[q].get(sent_us, 0) > acked:
            self._acked_at[q][sent_us] = acked + 1
            self._acked[q] += 1

    def inflight(self, now: int, prune: bool = True) -> tuple[int, int]:
        """Packets in flight in L and C at `now`, as `inflight_counts` counts them. Sends that left the horizon are
        dropped from the state; with `prune` False the same counts come without changing it (a look ahead)."""
        out = [0, 0]
        for q in (0, 1):
            sends, sent_at, acked_at = self._sends[q], self._sent_at[q], self._acked_at[q]
            gone = 0
            sent_off: dict[int, int] = {}  # what leaving the horizon takes off each send time's counts
            acked_off: dict[int, int] = {}
            while gone < len(sends) and sends[gone] < now - INFLIGHT_HORIZON_US:
                t = sends[gone]
                gone += 1
                sent_off[t] = sent_off.get(t, 0) + 1
                # more acknowledged than still counted as sent at t: one of them leaves the horizon too
                if acked_at.get(t, 0) - acked_off.get(t, 0) > sent_at[t] - sent_off[t]:
                    acked_off[t] = acked_off.get(t, 0) + 1
            acked = self._acked[q] - sum(acked_off.values())
            in_horizon = len(sends) - gone
            if prune:
                for _ in range(gone):
                    sends.popleft()
                for counts, off in ((sent_at, sent_off), (acked_at, acked_off)):
                    for t, n in off.items():
                        if counts[t] > n:
                            counts[t] -= n
                        else:
                            del counts[t]
                self._acked[q] = acked
            not_yet = 0  # sends at `now` itself (or later) are not in flight at `now`
            for t in reversed(sends):
                if t < now:
                    break
                not_yet += 1
            out[q] = in_horizon - not_yet - acked
        return out[0], out[1]

    def __len__(self) -> int:
        return self._count

    def observe(self, ack_us: int, sent_us: int, size: int, in_l: bool, rtt_us: int) -> None:
        """Append one sample."""
        h = self.spec.history
        if self._n == len(self._buf):
            self._buf[:h] = self._buf[h:]
            self._n = h
        self._last[0 if in_l else 1] = self._count
        gap = 0.0 if self._prev_sent is None else sent_us - self._prev_sent
        self._buf[self._n] = (ack_us, sent_us, size, 1.0 if in_l else 0.0, rtt_us, gap, self._last[0], self._last[1])
        self._prev_sent = sent_us
        self._n += 1
        self._count += 1
        if self.min_rtt is None or rtt_us < self.min_rtt:
            self.min_rtt = rtt_us
        self._acknowledged(sent_us, in_l)

    def raw_history(self) -> np.ndarray:
        """(history, 5) the newest samples, oldest first (for checks)."""
        return self._buf[self._n - self.spec.history:self._n, :5].astype(np.int64)

    def features(self, now: int, prune: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Features (tokens, F) float32 and base (2,) float32 at `now`; needs a full history (len >= history).
        `prune` False leaves the in-flight state as it was (a look ahead, see `inflight`)."""
        spec = self.spec
        h = spec.history
        if self._count < h:
            raise ValueError(f"online features need {h} samples, have {self._count}")
        w = self._buf[self._n - h:self._n]
        first = self._count - h  # global index of w[0]
        ack, in_l = w[:, 0], w[:, 3]
        qd = (w[:, 4] - float(self.min_rtt)) / 1000.0
        gap = w[:, 5] / 1000.0
        gap[0] = 0.0
        # latest sample of each queue at or before each position, inside the history (else the first sample)
        rel = w[:, 6:8] - first
        seen = rel >= 0
        rel = np.where(seen, rel, 0).astype(np.intp)
        carried = np.where(seen, qd[rel], qd[0])
        cols = [(now - ack) / AGE_ACK_SCALE_US, (now - w[:, 1]) / 100_000.0, qd / 20.0, in_l, w[:, 2] / 1500.0,
                gap / 10.0, carried[:, 0] / 20.0, carried[:, 1] / 20.0]
        if spec.staleness:
            age = now - ack[rel]
            cols += [age[:, 0] / AGE_ACK_SCALE_US, age[:, 1] / AGE_ACK_SCALE_US]
        if spec.inflight:
            fl, fc = self.inflight(now, prune)
            cols += [np.full(h, fl / INFLIGHT_SCALE), np.full(h, fc / INFLIGHT_SCALE)]
        x = _tokens(np.stack(cols, axis=-1)[None], spec)[0]
        # base: the newest value of each queue in the history (newest of any if a queue is absent)
        base = np.where(seen[-1], carried[-1], qd[-1])
        return x.astype(np.float32), base.astype(np.float32)

"""Features of a window of ACK-feedback samples, one definition for training (batched) and the sender (online).

A raw sample is (ack_us, sent_us, size, in_l, rtt_us) (`sender.Feedback`). At a
prediction time `now`, with the flow's minimum RTT so far, each of the last
`WINDOW` samples becomes NTT-style features: age of its feedback and of its
sending, its queueing delay estimate (RTT minus the minimum), its queue, its size
and the gap to the sample before it. `base` is the last queueing delay seen in each
queue within the window (the last-value prediction the models correct).
"""
from __future__ import annotations

import numpy as np

WINDOW = 32
RAW_COLUMNS = ("ack_us", "sent_us", "size", "in_l", "rtt_us")
FEATURES = ("age_ack", "age_sent", "qdelay", "in_l", "size", "gap", "qdelay_l", "qdelay_c")
N_FEATURES = len(FEATURES)


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


def window_features(raw: np.ndarray, now_us: np.ndarray, min_rtt_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, W, F) float32 and per-queue base (N, 2) float32 of raw windows (N, W, 5), oldest first."""
    raw = raw.astype(np.float64)
    now = now_us.astype(np.float64)[:, None]
    mn = min_rtt_us.astype(np.float64)[:, None]
    ack, sent, size, in_l, rtt = (raw[..., i] for i in range(5))
    qd = qdelay_ms(rtt, mn)
    gap = np.diff(sent, axis=1, prepend=sent[:, :1]) / 1000.0
    # each queue's delay carried forward through the window (the latest sample of that queue so far)
    carried = np.empty((raw.shape[0], raw.shape[1], 2))
    for col, mask in ((0, in_l > 0.5), (1, in_l <= 0.5)):
        idx = np.where(mask, np.arange(raw.shape[1])[None, :], 0)
        idx = np.maximum.accumulate(idx, axis=1)
        carried[..., col] = np.where(mask.cumsum(axis=1) > 0, np.take_along_axis(qd, idx, axis=1), qd[:, :1])
    x = np.stack([
        (now - ack) / 50_000.0, (now - sent) / 100_000.0, qd / 20.0, in_l, size / 1500.0, gap / 10.0,
        carried[..., 0] / 20.0, carried[..., 1] / 20.0,
    ], axis=-1)
    return x.astype(np.float32), last_per_queue(qd, in_l).astype(np.float32)


def sliding_windows(raw: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """(N - window + 1, window, 5) windows ending at each sample from index window-1 on."""
    idx = np.arange(window - 1, len(raw))[:, None] - np.arange(window)[::-1][None, :]
    return raw[idx]

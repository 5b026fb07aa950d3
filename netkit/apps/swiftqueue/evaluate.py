"""Prediction accuracy on the same held-out points for every predictor: MAE, RMSE, p99 error, MAE on sharp moves.

Every prediction point gives two errors (the L and the C target). `sharp` points are
those whose true latency moved by more than 20% from the previous point of the same
run and queue.
"""
from __future__ import annotations

import numpy as np

from netkit.apps.swiftqueue.dataset import RunData, Windows
from netkit.apps.swiftqueue.predictors import SIMPLE
from netkit.apps.swiftqueue.sender import Feedback

SHARP_CHANGE = 0.2


def simple_predictions(runs: list[RunData], w: Windows, name: str, bias: tuple[float, float]) -> np.ndarray:
    """(M, 2) predictions of a simple predictor at the points of `w` (state carried through each whole run)."""
    out = np.zeros((len(w), 2), dtype=np.float64)
    for i, r in enumerate(runs):
        sel = np.flatnonzero(w.run == i)
        if not len(sel):
            continue
        want = {int(k): j for j, k in zip(sel, w.idx[sel])}
        pred = SIMPLE[name](bias=bias)
        for k, (ack, sent, size, in_l, rtt) in enumerate(r.raw.tolist()):
            pred.observe(Feedback(ack, sent, size, bool(in_l), rtt))
            j = want.get(k)
            if j is not None:
                out[j] = pred.predict(ack)
    return out


def model_predictions(model, w: Windows, batch: int = 4096) -> np.ndarray:
    """(M, 2) predictions of a torch model at the points of `w`."""
    import torch

    out = []
    with torch.inference_mode():
        for s in range(0, len(w), batch):
            out.append(model(torch.from_numpy(w.x[s:s + batch]), torch.from_numpy(w.base[s:s + batch])).numpy())
    return np.maximum(np.concatenate(out).astype(np.float64), 0.0)  # as the online predictor: never negative


def sharp_mask(w: Windows) -> np.ndarray:
    """(M, 2) True where the target moved by more than 20% from the previous point of its run."""
    prev = np.roll(w.y, 1, axis=0)
    same = np.roll(w.run, 1) == w.run
    same[0] = False
    moved = np.abs(w.y - prev) > SHARP_CHANGE * np.maximum(prev, 1e-6)
    return moved & same[:, None]


def error_metrics(pred: np.ndarray, w: Windows) -> dict[str, float]:
    """mae_ms, rmse_ms, p99_abs_err_ms, sharp_mae_ms over both queues' targets."""
    err = np.abs(pred - w.y)
    sharp = sharp_mask(w)
    return {
        "mae_ms": float(err.mean()),
        "rmse_ms": float(np.sqrt((err ** 2).mean())),
        "p99_abs_err_ms": float(np.percentile(err, 99)),
        "sharp_mae_ms": float(err[sharp].mean()) if sharp.any() else float("nan"),
        "points": int(err.size),
        "sharp_points": int(sharp.sum()),
    }


def fit_bias(runs: list[RunData], w: Windows, name: str) -> tuple[float, float]:
    """The per-queue constant that minimises a simple predictor's absolute error on training points (median)."""
    pred = simple_predictions(runs, w, name, (0.0, 0.0))
    d = np.median(w.y - pred, axis=0)
    return float(d[0]), float(d[1])

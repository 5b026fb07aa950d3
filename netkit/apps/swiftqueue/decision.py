"""Learning the oracle's decision rather than the latencies (`netkit swiftqueue train --target decision`).

The oracle (`lookahead.LookaheadOracle`) sends a packet into C when, replayed from the
bottleneck's state with the flow's own packets in it, a packet entering C now would leave
sooner than one entering L. Such moments are rare (C at least 5 ms faster at 0.2-16% of the
moments on the training traces), so a latency regressor plus a margin is a poor tool for
them; a classifier of the decision is trained instead:

- label: 1 when the lookahead (L, C) at a prediction point gives C at least `margin_ms`
  sooner than L, else 0 (`decision_labels`);
- weight: the cost of getting that point wrong, |L - C| ms (clipped to
  [`MIN_WEIGHT_MS`, `MAX_WEIGHT_MS`] and normalised to mean 1 over a batch: a mistake where
  both queues are alike costs nothing and a wrong move into a queue 80 ms slower costs 80 ms;
  `decision_weights`);
- scored by `decision_metrics`: AUC, precision and recall at a threshold, and the mean
  latency a policy acting on the decisions would gain or lose at those points against
  staying in L (`gain_ms_per_point`, the oracle's is the upper bound).
"""
from __future__ import annotations

import numpy as np

DEFAULT_MARGIN_MS = 5.0
MIN_WEIGHT_MS = 0.5
MAX_WEIGHT_MS = 100.0


def decision_labels(lookahead: np.ndarray, margin_ms: float) -> np.ndarray:
    """(N,) 1.0 where C (column 1) is at least `margin_ms` faster than L (column 0) in the (N, 2) lookahead."""
    la = np.asarray(lookahead, dtype=np.float64).reshape(-1, 2)
    return (la[:, 0] - la[:, 1] >= margin_ms).astype(np.float32)


def decision_weights(lookahead: np.ndarray) -> np.ndarray:
    """(N,) the cost of a wrong decision at each point, |L - C| ms clipped to [MIN_WEIGHT_MS, MAX_WEIGHT_MS]
    (not normalised)."""
    la = np.asarray(lookahead, dtype=np.float64).reshape(-1, 2)
    return np.clip(np.abs(la[:, 0] - la[:, 1]), MIN_WEIGHT_MS, MAX_WEIGHT_MS).astype(np.float32)


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); nan without both classes."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label) > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def decision_metrics(prob: np.ndarray, lookahead: np.ndarray, margin_ms: float,
                     threshold: float = 0.5) -> dict[str, float]:
    """How good the decisions `prob > threshold` are at points with the given (N, 2) lookahead (ms)."""
    p = np.asarray(prob, dtype=np.float64).reshape(-1)
    la = np.asarray(lookahead, dtype=np.float64).reshape(-1, 2)
    y = decision_labels(la, margin_ms) > 0.5
    to_c = p > threshold
    gain = la[:, 0] - la[:, 1]  # what a move into C saves at this point (negative: what it costs)
    tp = int((to_c & y).sum())
    return {
        "points": int(len(p)),
        "positive_share": float(y.mean()) if len(y) else float("nan"),
        "to_c_share": float(to_c.mean()) if len(p) else float("nan"),
        "auc": auc(p, y),
        "precision": tp / int(to_c.sum()) if to_c.any() else float("nan"),
        "recall": tp / int(y.sum()) if y.any() else float("nan"),
        "gain_ms_per_point": float(np.where(to_c, gain, 0.0).mean()) if len(p) else float("nan"),
        "oracle_gain_ms_per_point": float(np.maximum(gain, 0.0).mean()) if len(p) else float("nan"),
        "threshold": threshold,
    }

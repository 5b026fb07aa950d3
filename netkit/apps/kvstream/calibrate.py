"""Per-layer bin profiles measured on a model instead of assumed.

CacheGen gives early layers more bins because, on decoder LLMs, their KV loss hurts
output quality most. Which layers matter is a property of the model and the quality
measure (on MiniLM's mean-pooled embedding it is the *late* layers and V more than K),
so this module measures it: add quantisation-like noise to one (layer, K/V) at a
time, record the quality loss, and give each (layer, K/V) bins proportional to the
square root of its sensitivity. That is the rate-distortion optimum when the loss is
``sum_i s_i * step_i^2`` and the bits are ``-sum_i log2(step_i)`` (equal sizes).
"""

from __future__ import annotations

import numpy as np

from .basis import KVBasis
from .sources import KVSource

__all__ = ["layer_sensitivity", "profile_from_sensitivity", "calibrate_profile", "calibrate_basis"]


def layer_sensitivity(source: KVSource, ids: np.ndarray, kv: np.ndarray | None = None, bins: int = 16,
                      seed: int = 0) -> np.ndarray:
    """Quality loss ``1 - quality`` per (layer, K/V) ``[layers, 2]`` when only that block is noised.

    The noise is uniform over one quantisation step of a ``bins``-bin per-token
    quantiser (the codec's own error shape at that setting).
    """
    kv = source.extract(ids) if kv is None else np.asarray(kv, dtype=np.float32)
    layers, _, tokens, heads, head_dim = kv.shape
    rng = np.random.default_rng(seed)
    sens = np.zeros((layers, 2))
    for li in range(layers):
        for w in range(2):
            x = kv[li, w].reshape(tokens, -1)
            centred = x - x.mean(axis=0)
            step = 2.0 * np.abs(centred).max(axis=1, keepdims=True) / bins
            noisy = kv.copy()
            noisy[li, w] = (x + (rng.random(x.shape) - 0.5) * step).reshape(tokens, heads, head_dim)
            sens[li, w] = max(1.0 - source.quality(ids, noisy), 1e-12)
    return sens


def profile_from_sensitivity(sens: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Bin multipliers ``[layers, 2]`` proportional to ``sens ** power``, geometric mean 1."""
    s = np.log(np.maximum(np.asarray(sens, dtype=np.float64), 1e-12))
    return np.exp(power * (s - s.mean()))


def calibrate_profile(source: KVSource, num_tokens: int = 256, seed: int = 1) -> np.ndarray:
    """Measure a bin profile for ``source`` on its own calibration text (``seed``)."""
    ids = source.tokens(num_tokens, seed=seed)
    return profile_from_sensitivity(layer_sensitivity(source, ids, seed=seed))


def calibrate_basis(source: KVSource, num_tokens: int = 512, seeds: tuple[int, ...] = (1, 2, 3, 4)) -> KVBasis:
    """Fit a :class:`KVBasis` (principal channel axes per layer and K/V) on calibration texts.

    The seeds pick texts other than the evaluation text (seed 0), so the benchmark
    does not measure the codec on the data its basis was fitted to.
    """
    return KVBasis.fit([source.extract(source.tokens(num_tokens, seed=s)) for s in seeds])

"""Language-model quality of a continuation: perplexity, top-1 agreement, KL; held-out text segments.

CacheGen judges a compressed KV cache by what the model does on top of it: the
perplexity of a held-out continuation given the (decoded) cache of the preceding
context, against the same with the original cache. A :class:`Segment` is a context
of ``context`` tokens followed by ``continuation + 1`` tokens: the model reads the
``continuation`` tokens after the context's cache and predicts each next one, so all
``continuation`` predictions depend on the cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Segment", "brown_segments", "token_nll", "perplexity", "log_softmax", "kl_divergence"]


@dataclass(frozen=True)
class Segment:
    """Token ids of one evaluation piece: ``ids[:context]`` the context, the rest its continuation."""

    doc: str
    ids: np.ndarray
    context: int

    @property
    def context_ids(self) -> np.ndarray:
        """The tokens whose KV cache is compressed."""
        return self.ids[:self.context]

    @property
    def inputs(self) -> np.ndarray:
        """Continuation tokens fed to the model on top of the context's cache."""
        return self.ids[self.context:-1]

    @property
    def targets(self) -> np.ndarray:
        """The next token after each input (what the perplexity scores)."""
        return self.ids[self.context + 1:]


def brown_segments(tokenizer: Any, split: str = "test", count: int = 8, context_tokens: int = 1024,
                   continuation_tokens: int = 128, root: Any = None, skip: int = 0) -> list[Segment]:
    """The first ``context + continuation + 1`` tokens of each of the first ``count`` long-enough documents.

    Documents come from :func:`netkit.apps.llm.brown.split_texts` in the split's fixed
    order, after skipping ``skip`` of them; a document shorter than a segment is passed over.
    """
    from .brown import split_names, read_document

    need = context_tokens + continuation_tokens + 1
    out: list[Segment] = []
    for name in split_names(split, root)[skip:]:
        ids = np.asarray(tokenizer(read_document(name, root))["input_ids"], dtype=np.int64)
        if len(ids) >= need:
            out.append(Segment(name, ids[:need], context_tokens))
        if len(out) == count:
            return out
    raise ValueError(f"Brown {split} split has only {len(out)} documents of >= {need} tokens, asked for {count}")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities (float64) of ``[positions, vocab]`` logits."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood (nats) of each target under its row of ``logits``."""
    lp = log_softmax(logits)
    t = np.asarray(targets, dtype=np.int64)
    return -lp[np.arange(len(t)), t]


def perplexity(nll: np.ndarray) -> float:
    """``exp(mean NLL)``: the perplexity of the scored tokens."""
    return float(math.exp(float(np.mean(nll))))


def kl_divergence(ref_logp: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``KL(p_ref || p)`` per position (nats), ``ref_logp`` already log-softmaxed."""
    lp = log_softmax(logits)
    return (np.exp(ref_logp) * (ref_logp - lp)).sum(axis=-1)

"""Codec quality on a real decoder LLM, measured as CacheGen does: perplexity given the decoded cache.

For each held-out :class:`~netkit.apps.llm.lm.Segment` the model's own KV of the
context is computed once (float32, the reference), then for a codec: KV cast to
float16 (the cache dtype a server would hold), encoded in 256-token chunks, decoded,
and the model reads the continuation on top of the decoded cache. Reported over all
continuation tokens of all segments:

* ``ppl`` and ``ppl_ref``: perplexity with the decoded and with the original cache;
  ``ppl_increase`` = ``ppl / ppl_ref - 1`` (0.01 = 1 %);
* ``next_token_agreement``: share of positions whose top-1 prediction equals the
  reference's;
* ``kl``: mean KL(reference || decoded) per position in nats.

:class:`LMSource` is the same model behind the :class:`~.sources.KVSource` protocol
(quality ``exp(-mean KL)`` of a continuation), so :mod:`.calibrate` measures layer
sensitivity on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from netkit.apps.llm.lm import Segment, brown_segments, kl_divergence, log_softmax, perplexity, token_nll

from .sources import kv_from_cache, run_with_past

__all__ = ["Reference", "extract_kv", "reference", "evaluate", "LMSource"]


@dataclass
class Reference:
    """A segment with its original KV, reference log-probabilities, NLL and top-1 predictions."""

    segment: Segment
    kv: np.ndarray
    logp: np.ndarray
    nll: np.ndarray
    top1: np.ndarray


def extract_kv(model: Any, ids: np.ndarray) -> np.ndarray:
    """The model's KV cache of ``ids`` as float32 ``[layers, 2, tokens, heads, head_dim]``."""
    import torch

    t = torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(1, -1)
    with torch.no_grad():
        out = model(input_ids=t, use_cache=True)
    return kv_from_cache(out.past_key_values)


def continuation_logits(model: Any, kv: np.ndarray, segment: Segment) -> np.ndarray:
    """Logits ``[continuation, vocab]`` of the continuation read on top of ``kv``."""
    return run_with_past(model, kv, segment.inputs).logits[0].float().numpy()


def reference(model: Any, segment: Segment) -> Reference:
    """Original KV of the context and the model's predictions of the continuation on top of it."""
    kv = extract_kv(model, segment.context_ids)
    logits = continuation_logits(model, kv, segment)
    return Reference(segment, kv, log_softmax(logits).astype(np.float32), token_nll(logits, segment.targets),
                     logits.argmax(axis=-1))


def evaluate(model: Any, refs: list[Reference], transform: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Perplexity change, top-1 agreement and KL with every reference KV replaced by ``transform(kv)``."""
    nll, nll_ref, agree, kl = [], [], [], []
    for ref in refs:
        logits = continuation_logits(model, np.asarray(transform(ref.kv), dtype=np.float32), ref.segment)
        nll.append(token_nll(logits, ref.segment.targets))
        nll_ref.append(ref.nll)
        agree.append(logits.argmax(axis=-1) == ref.top1)
        kl.append(kl_divergence(ref.logp.astype(np.float64), logits))
    ppl, ppl_ref = perplexity(np.concatenate(nll)), perplexity(np.concatenate(nll_ref))
    return {"ppl": ppl, "ppl_ref": ppl_ref, "ppl_increase": ppl / ppl_ref - 1.0,
            "next_token_agreement": float(np.concatenate(agree).mean()), "kl": float(np.concatenate(kl).mean()),
            "scored_tokens": int(sum(len(a) for a in agree))}


class LMSource:
    """A causal LM on Brown text behind the ``KVSource`` protocol (for layer sensitivity and bases).

    ``tokens(n, seed)``: seed 0 is the first held-out (``test``) document, seed s >= 1
    the s-th ``calib`` document; each also fixes its ``probe``-token continuation.
    ``quality(ids, kv)`` = ``exp(-mean KL)`` of that continuation's next-token
    distributions with ``kv`` against the model's own cache (1.0 = identical).
    """

    def __init__(self, model: Any, tokenizer: Any, name: str = "smollm2-135m", probe_tokens: int = 64,
                 root: Any = None) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.probe_tokens, self.root = probe_tokens, root
        self._segments: dict[bytes, Segment] = {}
        self._refs: dict[bytes, Reference] = {}

    def segment(self, num_tokens: int, seed: int = 0) -> Segment:
        """The segment behind ``tokens(num_tokens, seed)``."""
        split, skip = ("test", 0) if seed == 0 else ("calib", seed - 1)
        seg = brown_segments(self.tokenizer, split, 1, num_tokens, self.probe_tokens, self.root, skip=skip)[0]
        self._segments[seg.context_ids.tobytes()] = seg
        return seg

    def tokens(self, num_tokens: int, seed: int = 0) -> np.ndarray:
        """Context token ids of a Brown document (see the class docstring)."""
        return self.segment(num_tokens, seed).context_ids

    def extract(self, ids: np.ndarray) -> np.ndarray:
        """The model's KV of ``ids``."""
        return extract_kv(self.model, ids)

    def quality(self, ids: np.ndarray, kv: np.ndarray) -> float:
        """``exp(-mean KL)`` of the continuation with ``kv`` against the original cache."""
        key = np.asarray(ids).tobytes()
        if key not in self._segments:
            raise ValueError("LMSource.quality: ids must come from LMSource.tokens (the continuation is needed)")
        if key not in self._refs:
            self._refs[key] = reference(self.model, self._segments[key])
        return float(np.exp(-evaluate(self.model, [self._refs[key]], lambda _: kv)["kl"]))

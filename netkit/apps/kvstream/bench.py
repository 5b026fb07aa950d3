"""Measure every codec on real KV: size, reconstruction error, model-output quality and speed.

What is measured (written to ``results.json``, schema in docs/kvstream.md):

* ``bits_per_element``: 8 x the bytes of all chunk blobs (headers, side info and
  checksums included) / KV elements.
* ``rel_error``: ``||x_hat - x|| / ||x||`` against the model's own float32 KV. The
  codecs are fed that KV in float16 (the cache dtype), so fp16 shows its rounding.
* ``quality``: the source's model-output similarity with the decoded KV injected
  (MiniLM: cosine of mean-pooled embeddings; causal LM: cosine of continuation
  logits); 1.0 = identical.
* ``encode_msym_s`` / ``decode_msym_s``: million KV elements per second through
  :func:`encode_chunks` / :func:`decode_chunks` with the worker pool (all CPUs),
  best of ``repeats`` after one warm-up, on the KV tiled along tokens to at least
  ``speed_tokens`` so every worker has chunks; ``*_1proc``: the same in one process
  (fast codecs such as zstd are faster there: the pool's overhead exceeds their work).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .cachegen import LEVEL_BINS, CacheGenCodec, layer_bins
from .baselines import FP16Codec, Int8Codec, TextCodec, ZstdCodec
from .chunks import DEFAULT_CHUNK_TOKENS, decode_chunks, default_workers, encode_chunks
from .codec import Codec
from .sources import KVSource

__all__ = ["make_source", "measure_codec", "run_bench", "summarise", "write_results", "QUALITY_TOLERANCES"]

#: Quality losses ``1 - quality`` treated as "no measurable loss" in the summary.
QUALITY_TOLERANCES = (1e-3, 1e-4)


def make_source(model: str, workdir: str | os.PathLike[str] | None = None) -> KVSource:
    """``minilm`` (bundled all-MiniLM-L6-v2) or ``tiny`` (random 2-layer Llama saved under ``workdir``)."""
    from .sources import CausalLMSource, EncoderSource, build_tiny_causal_lm

    if model == "minilm":
        return EncoderSource()
    if model == "tiny":
        if workdir is None:  # the model is in memory once loaded; its files can go
            with tempfile.TemporaryDirectory(prefix="netkit-tiny-") as tmp:
                return CausalLMSource(build_tiny_causal_lm(Path(tmp) / "tiny-llama"), name="tiny")
        path = Path(workdir) / "tiny-llama"
        if not (path / "config.json").exists():
            build_tiny_causal_lm(path)
        return CausalLMSource(path, name="tiny")
    raise ValueError(f"unknown model {model!r}; use 'minilm' or 'tiny'")


def _tile(kv: np.ndarray, min_tokens: int, chunk_tokens: int) -> np.ndarray:
    reps = max(1, -(-min_tokens // kv.shape[2]))
    tiled = np.concatenate([kv] * reps, axis=2) if reps > 1 else kv
    whole = (tiled.shape[2] // chunk_tokens) * chunk_tokens or tiled.shape[2]
    return np.ascontiguousarray(tiled[:, :, :whole])


def measure_codec(codec: Codec, kv16: np.ndarray, kv_ref: np.ndarray, source: KVSource, ids: np.ndarray,
                  speed_kv: np.ndarray, chunk_tokens: int = DEFAULT_CHUNK_TOKENS, repeats: int = 3,
                  workers: int | None = None) -> dict[str, float]:
    """Size, error, quality and speed of one codec (see module docstring)."""
    basis = getattr(codec, "basis", None)
    blobs = encode_chunks(kv16, codec, chunk_tokens, workers)
    decoded = decode_chunks(blobs, workers, basis).astype(np.float32)
    ref = kv_ref.astype(np.float64)
    rel = float(np.linalg.norm(decoded - ref) / np.linalg.norm(ref))
    quality = float(source.quality(ids, decoded))
    n = speed_kv.size
    pool = _speed(codec, speed_kv, chunk_tokens, repeats, workers, basis)
    single = _speed(codec, speed_kv, chunk_tokens, repeats, 1, basis)
    total = sum(len(b) for b in blobs)
    return {
        "bits_per_element": 8.0 * total / kv16.size,
        "bytes": total,
        "rel_error": rel,
        "quality": quality,
        "encode_msym_s": n / pool[0] / 1e6,
        "decode_msym_s": n / pool[1] / 1e6,
        "encode_msym_s_1proc": n / single[0] / 1e6,
        "decode_msym_s_1proc": n / single[1] / 1e6,
    }


def _speed(codec: Codec, kv: np.ndarray, chunk_tokens: int, repeats: int, workers: int | None,
           basis: object) -> tuple[float, float]:
    """Best encode and decode seconds over ``repeats`` runs, after one warm-up run."""
    blobs = encode_chunks(kv, codec, chunk_tokens, workers)
    decode_chunks(blobs, workers, basis)  # type: ignore[arg-type]
    enc, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        blobs = encode_chunks(kv, codec, chunk_tokens, workers)
        t1 = time.perf_counter()
        decode_chunks(blobs, workers, basis)  # type: ignore[arg-type]
        enc.append(t1 - t0)
        dec.append(time.perf_counter() - t1)
    return min(enc), min(dec)


def summarise(codecs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cheapest level of each kvstream family at int8's quality and within each tolerance, with its size ratio to int8."""
    out: dict[str, Any] = {"int8_bits_per_element": codecs["int8"]["bits_per_element"],
                           "int8_quality": codecs["int8"]["quality"]}
    for family in ("kvstream-L", "kvstream-klt-L"):
        levels = {k: v for k, v in codecs.items() if k.startswith(family)}
        if levels:
            out[family[:-2]] = _summarise_family(codecs["int8"], levels)
    return out


def _summarise_family(int8: dict[str, Any], levels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def pick(min_quality: float) -> dict[str, Any] | None:
        ok = [(v["bits_per_element"], k) for k, v in levels.items() if v["quality"] >= min_quality]
        if not ok:
            return None
        bits, name = min(ok)
        return {"codec": name, "bits_per_element": bits, "quality": levels[name]["quality"],
                "ratio_vs_int8": int8["bits_per_element"] / bits}

    out: dict[str, Any] = {"at_int8_quality": pick(int8["quality"])}
    for tol in QUALITY_TOLERANCES:
        out[f"within_{tol:g}"] = pick(1.0 - tol)
    return out


def write_results(out_dir: str | os.PathLike[str], results: dict[str, Any]) -> Path:
    """Write ``results.json`` atomically (temp file, then ``os.replace``)."""
    from netkit.experiment.output import strict_json
    from netkit.files import atomic_write_text

    out = Path(out_dir)
    atomic_write_text(out / "results.json", strict_json(results, indent=2) + "\n")
    return out / "results.json"


def run_bench(out_dir: str | os.PathLike[str] | None, model: str = "minilm", tokens: int | None = None,
              chunk_tokens: int = DEFAULT_CHUNK_TOKENS, profile: str = "calibrated",
              levels: list[int] | None = None, repeats: int = 3, workers: int | None = None,
              speed_tokens: int = 4096, progress: bool = True, source: KVSource | None = None,
              klt: bool = True) -> dict[str, Any]:
    """Benchmark all codecs on ``model`` KV; write ``out_dir/results.json`` (if given) and return it.

    ``profile``: ``calibrated`` (measure per-layer sensitivity on another text first,
    see :mod:`.calibrate`) or a named CacheGen profile (``early``, ``flat``, ``late``).
    ``klt``: also measure ``kvstream-klt-L*`` with a basis fitted on other texts.
    """
    from tqdm.auto import tqdm

    from .calibrate import calibrate_basis, calibrate_profile

    source = source or make_source(model)
    tokens = tokens or (512 if model == "minilm" else 1024)
    levels = list(range(len(LEVEL_BINS))) if levels is None else levels
    ids = source.tokens(tokens, seed=0)
    t0 = time.perf_counter()
    kv_ref = source.extract(ids)
    prefill_s = time.perf_counter() - t0
    kv16 = kv_ref.astype(np.float16)
    speed_kv = _tile(kv16, speed_tokens, chunk_tokens)

    if profile == "calibrated":
        prof: str | np.ndarray = calibrate_profile(source, num_tokens=min(tokens, 256), seed=1)
    else:
        prof = profile
    codecs: list[Codec] = [CacheGenCodec(lv, profile=prof) for lv in levels]
    if klt:
        basis = calibrate_basis(source, num_tokens=tokens)
        codecs += [CacheGenCodec(lv, profile=prof, basis=basis) for lv in levels]
    codecs += [Int8Codec(), FP16Codec(), ZstdCodec()]
    results: dict[str, Any] = {}
    for codec in tqdm(codecs, desc=f"kvstream bench ({source.name})", disable=not progress):
        results[codec.name] = measure_codec(codec, kv16, kv_ref, source, ids, speed_kv, chunk_tokens, repeats,
                                            workers)
    text = TextCodec(vocab_size=int(ids.max()) + 1)
    text_bytes = sum(text.encoded_size(min(chunk_tokens, tokens - s)) for s in range(0, tokens, chunk_tokens))
    results["text"] = {"bits_per_element": 8.0 * text_bytes / kv16.size, "bytes": text_bytes, "rel_error": 0.0,
                       "quality": 1.0, "tokens": tokens, "recompute_s": prefill_s,
                       "encode_msym_s": None, "decode_msym_s": None,
                       "encode_msym_s_1proc": None, "decode_msym_s_1proc": None}

    meta = {
        "model": source.name, "tokens": tokens, "shape": list(kv16.shape), "input_dtype": "float16",
        "chunk_tokens": chunk_tokens, "profile": profile,
        "level_bins": {f"kvstream-L{lv}": layer_bins(lv, kv16.shape[0], prof).tolist() for lv in levels},
        "klt_basis": "fitted on seeds 1-4 (evaluation text is seed 0)" if klt else None,
        "workers": workers or default_workers(), "speed_tokens": int(speed_kv.shape[2]), "repeats": repeats,
        "load_avg": list(os.getloadavg()), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if not isinstance(prof, str):
        meta["profile_multipliers"] = np.round(prof, 4).tolist()
    out = {"meta": meta, "codecs": results, "summary": summarise(results)}
    if out_dir is not None:
        write_results(out_dir, out)
    return out

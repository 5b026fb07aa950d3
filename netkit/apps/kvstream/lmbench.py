"""``kvstream bench --model smollm2-135m``: every codec on the real KV cache of a trained decoder LLM.

Model: SmolLM2-135M-Instruct (:mod:`netkit.apps.llm.smollm2`); text: held-out Brown
documents (:mod:`netkit.apps.llm.brown`, ``test`` split). Quality as CacheGen measures
it (:mod:`.lmeval`): perplexity of each segment's continuation given the decoded
cache of its context against the original, and top-1 next-token agreement.

Per codec (``codecs`` in ``results.json``):

* ``bits_per_element``: 8 x all chunk blob bytes (headers, side information, checksums)
  / KV elements, over every segment; ``ratio_vs_int8`` = int8's bits / this codec's bits;
* ``ppl``, ``ppl_ref``, ``ppl_increase`` (relative, 0.01 = 1 %), ``next_token_agreement``, ``kl``;
* ``rel_error`` against the float32 KV;
* ``encode_msym_s`` / ``decode_msym_s``: million KV elements per second through
  :func:`encode_chunks` / :func:`decode_chunks` with the worker pool; ``*_1proc`` in one
  process; best of ``repeats`` after a warm-up, on the first segment's KV.

The per-layer bin profile is measured on ``calib`` documents (:mod:`.calibrate`, with
quality ``exp(-KL)``), the KLT basis fitted on other ``calib`` documents; neither sees the
evaluation text. ``layer_sensitivity`` (KL loss per layer and K/V) is written too.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

from .baselines import FP16Codec, Int8Codec, TextCodec, ZstdCodec
from .cachegen import LEVEL_BINS, CacheGenCodec, layer_bins
from .chunks import DEFAULT_CHUNK_TOKENS, decode_chunks, default_workers, encode_chunks
from .codec import Codec

__all__ = ["LM_MODELS", "PPL_TOLERANCES", "run_lm_bench", "summarise_lm"]

LM_MODELS = ("smollm2-135m",)
#: Relative perplexity increases reported in the summary (CacheGen's "negligible" bar is 1 %).
PPL_TOLERANCES = (0.01, 0.001)
#: Exponent turning measured layer sensitivities into bins (calibrate.profile_from_sensitivity). 0.5 is
#: the rate-distortion optimum if loss grew as sensitivity x step^2; on SmolLM2 that over-trusts one
#: calibration text (2 bins for some layers at L2): 0.25 halved the KL at L1-L3 at equal bits on Brown
#: calib documents 7-9 (0.5: KL 0.080 / 0.202 at L1 / L2, 0.25: 0.019 / 0.051, flat: 0.033 / 0.071).
LM_PROFILE_POWER = 0.25


def _roundtrip(codec: Codec, kv: np.ndarray, chunk_tokens: int, workers: int | None) -> tuple[np.ndarray, int]:
    blobs = encode_chunks(kv.astype(np.float16), codec, chunk_tokens, workers)
    return decode_chunks(blobs, workers, getattr(codec, "basis", None)).astype(np.float32), sum(map(len, blobs))


def _speed(codec: Codec, kv16: np.ndarray, chunk_tokens: int, repeats: int, workers: int | None) -> tuple[float, float]:
    basis = getattr(codec, "basis", None)
    blobs = encode_chunks(kv16, codec, chunk_tokens, workers)
    decode_chunks(blobs, workers, basis)
    enc, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        blobs = encode_chunks(kv16, codec, chunk_tokens, workers)
        t1 = time.perf_counter()
        decode_chunks(blobs, workers, basis)
        enc.append(t1 - t0)
        dec.append(time.perf_counter() - t1)
    return kv16.size / min(enc) / 1e6, kv16.size / min(dec) / 1e6


def summarise_lm(codecs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cheapest level of each kvstream family within each perplexity tolerance, with its ratio to int8."""
    out: dict[str, Any] = {"int8_bits_per_element": codecs["int8"]["bits_per_element"],
                           "int8_ppl_increase": codecs["int8"]["ppl_increase"]}
    for family in ("kvstream-L", "kvstream-klt-L"):
        levels = {k: v for k, v in codecs.items() if k.startswith(family)}
        if not levels:
            continue
        fam: dict[str, Any] = {}
        for tol in PPL_TOLERANCES:
            ok = [(v["bits_per_element"], k) for k, v in levels.items() if v["ppl_increase"] < tol]
            if ok:
                bits, name = min(ok)
                fam[f"ppl_within_{tol:g}"] = {"codec": name, "bits_per_element": bits,
                                              "ppl_increase": levels[name]["ppl_increase"],
                                              "next_token_agreement": levels[name]["next_token_agreement"],
                                              "ratio_vs_int8": levels[name]["ratio_vs_int8"]}
            else:
                fam[f"ppl_within_{tol:g}"] = None
        out[family[:-2]] = fam
    return out


def run_lm_bench(out_dir: Any = None, model: str = "smollm2-135m", tokens: int | None = None, segments: int = 8,
                 continuation: int = 128, chunk_tokens: int = DEFAULT_CHUNK_TOKENS, profile: str = "calibrated",
                 levels: list[int] | None = None, repeats: int = 3, workers: int | None = None,
                 progress: bool = True, klt: bool = True, lm: tuple[Any, Any] | None = None,
                 threads: int | None = 1) -> dict[str, Any]:
    """Run the benchmark on the real model; write ``out_dir/results.json`` (if given) and return it.

    ``tokens``: context tokens per segment (default 1024); ``segments`` held-out
    documents, ``continuation`` scored tokens each. ``lm``: an already loaded
    ``(model, tokenizer)``. ``threads``: torch threads (1 on a shared machine).
    """
    import torch
    from tqdm.auto import tqdm

    from netkit.apps.llm import smollm2
    from netkit.apps.llm.lm import brown_segments

    from .bench import write_results
    from .calibrate import layer_sensitivity, profile_from_sensitivity
    from .basis import KVBasis
    from .lmeval import LMSource, evaluate, reference

    if model not in LM_MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(LM_MODELS)}")
    if segments < 1 or continuation < 1:
        raise ValueError("--segments and --continuation must be >= 1")
    if threads:
        torch.set_num_threads(threads)
    tokens = tokens or 1024
    if tokens < 2:
        raise ValueError(f"--tokens must be >= 2, got {tokens}")
    levels = list(range(len(LEVEL_BINS))) if levels is None else levels
    net, tok = lm or smollm2.load()
    t_start = time.perf_counter()

    segs = brown_segments(tok, "test", segments, tokens, continuation)
    refs = []
    prefill = []
    for seg in segs:
        t0 = time.perf_counter()
        refs.append(reference(net, seg))
        prefill.append(time.perf_counter() - t0)
    shape = list(refs[0].kv.shape)
    elements = sum(r.kv.size for r in refs)

    source = LMSource(net, tok, name=model, probe_tokens=min(continuation, 64))
    calib_tokens = min(tokens, 256)
    calib_ids = source.tokens(calib_tokens, seed=1)
    sens = layer_sensitivity(source, calib_ids, seed=1)
    prof: str | np.ndarray = profile_from_sensitivity(sens, LM_PROFILE_POWER) if profile == "calibrated" else profile

    codecs: list[Codec] = [CacheGenCodec(lv, profile=prof) for lv in levels]
    if klt:
        basis = KVBasis.fit([source.extract(source.tokens(tokens, seed=s)) for s in (2, 3, 4, 5)])
        codecs += [CacheGenCodec(lv, profile=prof, basis=basis) for lv in levels]
    codecs += [Int8Codec(), FP16Codec(), ZstdCodec()]

    speed_kv = np.ascontiguousarray(refs[0].kv.astype(np.float16))
    results: dict[str, dict[str, Any]] = {}
    for codec in tqdm(codecs, desc=f"kvstream bench ({model})", disable=not progress):
        sizes, errs, norms = [], [], []
        decoded: dict[int, np.ndarray] = {}
        for i, ref in enumerate(refs):
            dec, size = _roundtrip(codec, ref.kv, chunk_tokens, workers)
            decoded[id(ref.kv)] = dec
            sizes.append(size)
            errs.append(float(np.sum((dec.astype(np.float64) - ref.kv) ** 2)))
            norms.append(float(np.sum(ref.kv.astype(np.float64) ** 2)))
        q = evaluate(net, refs, lambda kv: decoded[id(kv)])
        enc, dec_s = _speed(codec, speed_kv, chunk_tokens, repeats, workers)
        enc1, dec1 = _speed(codec, speed_kv, chunk_tokens, repeats, 1)
        results[codec.name] = {"bits_per_element": 8.0 * sum(sizes) / elements, "bytes": sum(sizes),
                               "rel_error": float(np.sqrt(sum(errs) / sum(norms))), **q,
                               "encode_msym_s": enc, "decode_msym_s": dec_s,
                               "encode_msym_s_1proc": enc1, "decode_msym_s_1proc": dec1}
    int8_bits = results["int8"]["bits_per_element"]
    for r in results.values():
        r["ratio_vs_int8"] = int8_bits / r["bits_per_element"]
    text = TextCodec(vocab_size=int(net.config.vocab_size))
    text_bytes = len(segs) * sum(text.encoded_size(min(chunk_tokens, tokens - s)) for s in range(0, tokens, chunk_tokens))
    results["text"] = {"bits_per_element": 8.0 * text_bytes / elements, "bytes": text_bytes, "rel_error": 0.0,
                       "ppl_increase": 0.0, "next_token_agreement": 1.0, "kl": 0.0,
                       "ratio_vs_int8": int8_bits / (8.0 * text_bytes / elements),
                       "tokens": tokens, "recompute_s": float(np.median(prefill)),
                       "encode_msym_s": None, "decode_msym_s": None,
                       "encode_msym_s_1proc": None, "decode_msym_s_1proc": None}
    meta = {
        "model": model, "tokens": tokens, "segments": [s.doc for s in segs], "continuation": continuation,
        "shape": shape, "input_dtype": "float16", "chunk_tokens": chunk_tokens, "profile": profile,
        "profile_calibration": f"Brown calib document 1, {calib_tokens} tokens, quality exp(-KL), "
                               f"power {LM_PROFILE_POWER}",
        "level_bins": {f"kvstream-L{lv}": layer_bins(lv, shape[0], prof).tolist() for lv in levels},
        "klt_basis": "fitted on Brown calib documents 2-5" if klt else None,
        "prefill_s": prefill, "torch_threads": torch.get_num_threads(),
        "workers": workers or default_workers(), "repeats": repeats,
        "load_avg": list(os.getloadavg()), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "seconds": None,
    }
    if not isinstance(prof, str):
        meta["profile_multipliers"] = np.round(prof, 4).tolist()
    meta["seconds"] = time.perf_counter() - t_start
    out = {"meta": meta, "codecs": results, "layer_sensitivity": {"kl_loss": sens.tolist(),
           "what": "1 - exp(-KL) of a 64-token continuation when one (layer, K/V) block gets uniform "
                   "noise of one 16-bin step; rows are layers, columns K and V"},
           "summary": summarise_lm(results)}
    if out_dir is not None:
        write_results(out_dir, out)
    return out


def format_lm_table(res: dict[str, Any]) -> str:
    """The benchmark's codec table as text (one row per codec)."""
    def f(v: float | None, spec: str = ".1f") -> str:
        return "-" if v is None else format(v, spec)

    rows = [f"{'codec':16s} {'bits/elem':>9s} {'vs int8':>7s} {'ppl +%':>8s} {'top-1':>6s} {'KL':>8s} "
            f"{'rel_err':>7s} {'dec Msym/s':>10s} {'dec 1proc':>9s}"]
    for name, r in res["codecs"].items():
        rows.append(f"{name:16s} {r['bits_per_element']:9.3f} {r['ratio_vs_int8']:7.2f} {100 * r['ppl_increase']:8.3f} "
                    f"{r['next_token_agreement']:6.3f} {r['kl']:8.5f} {r['rel_error']:7.4f} "
                    f"{f(r['decode_msym_s']):>10s} {f(r['decode_msym_s_1proc']):>9s}")
    meta = res["meta"]
    rows.append(f"({meta['model']}: {len(meta['segments'])} held-out Brown segments of {meta['tokens']} context + "
                f"{meta['continuation']} scored tokens; ppl_ref {res['codecs']['int8']['ppl_ref']:.3f}; "
                f"load avg {meta['load_avg'][0]:.1f})")
    return "\n".join(rows)

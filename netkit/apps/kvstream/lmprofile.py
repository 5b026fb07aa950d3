"""A streaming profile measured end to end on a real trained LLM: SmolLM2-135M-Instruct.

Unlike :func:`.profile.measure_profile` (MiniLM's bits per element on a random
serving model's geometry), every number here comes from the one model that is
streamed:

* **Bytes**: the real KV cache of a ``context_tokens``-token held-out Brown document
  (``test`` split, first document long enough), every 256-token chunk encoded with
  every option (the CacheGen codec with a per-layer profile calibrated on ``calib``
  text, int8, fp16); sizes are the chunk blobs, headers and side information included.
* **Decode time**: ``decode_chunk`` on each blob, timed in one process (best of
  ``repeats``).
* **Quality**: ``exp(-KL)`` of the model's next-token distributions over the
  ``continuation`` tokens that follow the context, with every chunk at that option,
  against the original cache (1.0 = identical); the relative perplexity increase is
  in ``meta["ppl_increase"]``. Text recomputes the exact cache (1.0).
* **Recompute time**: the real model's prefill of each chunk on top of the previous
  chunks' cache, timed (fastest of ``recompute_repeats``, all tries in the meta), with
  ``threads`` torch threads (1 by default: the machine is shared).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

from .lmbench import LM_PROFILE_POWER
from .profile import KV_OPTIONS, StreamProfile, fastest_decode_s, time_prefill

__all__ = ["measure_lm_profile"]


def measure_lm_profile(context_tokens: int = 2048, chunk_tokens: int = 256, options: tuple[str, ...] = KV_OPTIONS,
                       repeats: int = 3, recompute_repeats: int = 3, continuation: int = 128,
                       threads: int | None = 1, lm: tuple[Any, Any] | None = None,
                       progress: Callable[[str], None] | None = None, calib_tokens: int = 256,
                       calib_probe: int = 64) -> StreamProfile:
    """Measure a :class:`StreamProfile` of SmolLM2-135M on this machine (see the module docstring).

    ``calib_tokens`` / ``calib_probe``: context and continuation of the layer-sensitivity
    calibration text (smaller only to keep tests short).
    """
    import torch

    from netkit.apps.llm import smollm2
    from netkit.apps.llm.lm import brown_segments

    from .baselines import TextCodec
    from .calibrate import layer_sensitivity, profile_from_sensitivity
    from .chunks import decode_chunks, encode_chunks
    from .codec import get_codec
    from .lmeval import LMSource, evaluate, reference

    say = progress or (lambda s: None)
    if context_tokens % chunk_tokens:
        raise ValueError("context_tokens must be a multiple of chunk_tokens")
    if threads:
        torch.set_num_threads(threads)
    t_start = time.perf_counter()
    net, tok = lm or smollm2.load()
    seg = brown_segments(tok, "test", 1, context_tokens, continuation)[0]
    say(f"reference on Brown {seg.doc} ({context_tokens} tokens)")
    ref = reference(net, seg)
    kv16 = ref.kv.astype(np.float16)
    say("calibrating the per-layer profile on Brown calib text")
    src = LMSource(net, tok, probe_tokens=calib_probe)
    prof = profile_from_sensitivity(layer_sensitivity(src, src.tokens(calib_tokens, seed=1), seed=1),
                                    LM_PROFILE_POWER)
    n = context_tokens // chunk_tokens
    elems = kv16[:, :, :chunk_tokens].size
    sizes: dict[str, list[int]] = {}
    process: dict[str, list[int]] = {}
    qualities: dict[str, float] = {}
    ppl_inc: dict[str, float] = {}
    agree: dict[str, float] = {}
    for opt in options:
        say(f"encoding {opt}")
        codec = get_codec(opt, profile=prof) if opt.startswith("kvstream-") else get_codec(opt)
        blobs = encode_chunks(kv16, codec, chunk_tokens, workers=1)
        times = []
        for b in blobs:
            times.append(int(round(fastest_decode_s(b, repeats) * 1e6)))
        sizes[opt] = [len(b) for b in blobs]
        process[opt] = times
        decoded = decode_chunks(blobs, workers=1).astype(np.float32)
        q = evaluate(net, [ref], lambda _: decoded)
        qualities[opt] = float(np.exp(-q["kl"]))
        ppl_inc[opt], agree[opt] = q["ppl_increase"], q["next_token_agreement"]

    say("timing the prefill of each chunk")
    ids = torch.as_tensor(seg.context_ids).reshape(1, -1)
    load_before = list(os.getloadavg())
    tries_all = time_prefill(net, ids, context_tokens, chunk_tokens, recompute_repeats, say)
    text = TextCodec(vocab_size=int(net.config.vocab_size))
    sizes["text"] = [text.encoded_size(chunk_tokens)] * n
    process["text"] = [min(t) for t in tries_all]
    qualities["text"] = 1.0
    cfg = net.config
    meta = {
        "serving_model": {"name": "smollm2-135m", "layers": cfg.num_hidden_layers, "kv_heads": cfg.num_key_value_heads,
                          "head_dim": cfg.hidden_size // cfg.num_attention_heads, "dtype": "float32",
                          "weights": "SmolLM2-135M-Instruct Q4_1 GGUF, de-quantised"},
        "kv_source": {"name": "smollm2-135m", "text": f"Brown {seg.doc} (test split)", "tokens": context_tokens,
                      "codec_profile": f"calibrated (Brown calib, exp(-KL), power {LM_PROFILE_POWER})"},
        "context_tokens": context_tokens, "chunk_tokens": chunk_tokens, "kv_elements_per_chunk": elems,
        "bits_per_element": {o: 8.0 * sum(sizes[o]) / (elems * n) for o in options},
        "quality": "exp(-mean KL) of the next-token distributions over the continuation",
        "ppl_increase": ppl_inc, "next_token_agreement": agree, "continuation_tokens": continuation,
        "decode_repeats": repeats, "recompute_repeats": recompute_repeats, "recompute_tries_us": tries_all,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_avg_before_prefill": load_before, "load_avg_after": list(os.getloadavg()),
        "measure_s": time.perf_counter() - t_start,
    }
    return StreamProfile(sizes, process, qualities, chunk_tokens, meta)

"""kvstream decode speed on SmolLM2's real KV, side by side with its ceiling (the raw ANS decoder) and zstd.

Decode speed is bounded by constriction's ANS decoder: every KV element is one
entropy-coded symbol. This script times, interleaved in one run (the machine is
shared, so only ratios measured together mean much), best of ``--repeats``:

* ``ans raw``: constriction's ``AnsCoder.decode`` alone on the same number of symbols,
  one table (the fastest possible decode of this format: no side info, no de-quantising);
* ``kvstream-L2 1 proc`` / ``pool``: ``decode_chunks`` of the real chunks in the calling
  process / in 2 worker processes (both cores);
* ``zstd 1 proc``: the zstd baseline's decode of the same KV.

    .venv/bin/python benchmarks/kvstream_decode_speed.py [--tokens 2048] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn, repeats: int) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    """Measure and print Msym/s of each decoder."""
    import constriction
    import torch

    from netkit.apps.kvstream import CacheGenCodec, ZstdCodec, decode_chunks, encode_chunks
    from netkit.apps.kvstream.entropy import _model
    from netkit.apps.kvstream.lmeval import extract_kv
    from netkit.apps.llm import smollm2
    from netkit.apps.llm.lm import brown_segments

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--level", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = smollm2.load()
    seg = brown_segments(tok, "test", 1, args.tokens, 1)[0]
    kv16 = extract_kv(model, seg.context_ids).astype(np.float16)
    n = kv16.size
    codec = CacheGenCodec(args.level, profile="flat")
    blobs = encode_chunks(kv16, codec, workers=1)
    zblobs = encode_chunks(kv16, ZstdCodec(), workers=1)
    m = 16
    coder = constriction.stream.stack.AnsCoder()
    sym = np.random.default_rng(0).integers(m - 3, m + 4, size=n).astype(np.int32)
    coder.encode_reverse(sym, _model(m, 20))
    words = coder.get_compressed()
    model_ans = _model(m, 20)
    per_call = 256 * 192  # one (layer, K/V) block of a chunk, as the codec calls it

    def raw() -> None:
        c = constriction.stream.stack.AnsCoder(words)
        for start in range(0, n, per_call):
            c.decode(model_ans, min(per_call, n - start))

    rows = []
    for rnd in range(2):  # two interleaved rounds: any drift in load shows as a difference between them
        rows.append(("ans raw (1 table, 1 proc)", best_of(raw, args.repeats)))
        rows.append((f"{codec.name} decode 1 proc", best_of(lambda: decode_chunks(blobs, workers=1), args.repeats)))
        rows.append((f"{codec.name} decode pool (2)", best_of(lambda: decode_chunks(blobs, workers=2), args.repeats)))
        rows.append(("zstd decode 1 proc", best_of(lambda: decode_chunks(zblobs, workers=1), args.repeats)))
    print(f"SmolLM2 KV {list(kv16.shape)} = {n / 1e6:.1f} M elements, {len(blobs)} chunks; "
          f"load average {os.getloadavg()[0]:.1f}; cpus {os.cpu_count()}")
    for name, s in rows:
        print(f"  {name:32s} {n / s / 1e6:7.1f} Msym/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

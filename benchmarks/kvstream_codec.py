"""kvstream codec benchmark: bits/element vs int8 at equal quality, speed next to zstd, ablations.

Usage::

    .venv/bin/python benchmarks/kvstream_codec.py [--out DIR] [--models minilm tiny] [--quick]

For each model (MiniLM: real KV statistics; tiny: a random 2-layer Llama) it runs
:func:`netkit.apps.kvstream.bench.run_bench` (writes ``DIR/<model>/results.json``),
prints the table and the size ratio to int8 at int8's quality and at quality losses
of at most 1e-3 and 1e-4, then (MiniLM only) three ablations that justify design
choices: per-token vs per-channel scales, per-layer bin profiles, and anchor/delta
coding across tokens. Speeds use all CPUs through the worker pool and depend on
what else runs on the machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from netkit.apps.kvstream.bench import make_source, run_bench  # noqa: E402
from netkit.apps.kvstream.cachegen import CacheGenCodec, layer_bins  # noqa: E402
from netkit.apps.kvstream.calibrate import calibrate_profile  # noqa: E402
from netkit.apps.kvstream.chunks import decode_chunks, encode_chunks  # noqa: E402
from netkit.apps.kvstream.entropy import code_lengths  # noqa: E402


def print_table(res: dict) -> None:
    """Print one model's codec table, side by side with zstd's speed."""
    meta = res["meta"]
    print(f"\n== {meta['model']}: KV {meta['shape']} ({meta['input_dtype']} in), chunks of {meta['chunk_tokens']} "
          f"tokens, profile {meta['profile']}, {meta['workers']} workers, load avg {meta['load_avg'][0]:.2f}")
    print(f"{'codec':16s} {'bits/elem':>9s} {'rel_err':>8s} {'quality':>10s} {'1-quality':>9s} "
          f"{'enc Msym/s':>10s} {'dec Msym/s':>10s} {'enc 1proc':>10s} {'dec 1proc':>10s}")

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for name, r in res["codecs"].items():
        print(f"{name:16s} {r['bits_per_element']:9.3f} {r['rel_error']:8.4f} {r['quality']:10.7f} "
              f"{1 - r['quality']:9.1e} {f(r['encode_msym_s']):>10s} {f(r['decode_msym_s']):>10s} "
              f"{f(r['encode_msym_s_1proc']):>10s} {f(r['decode_msym_s_1proc']):>10s}")
    s = res["summary"]
    print(f"int8: {s['int8_bits_per_element']:.3f} bits/element, quality {s['int8_quality']:.7f}")
    for fam in ("kvstream", "kvstream-klt"):
        if fam not in s:
            continue
        for key, pick in s[fam].items():
            if pick is None:
                print(f"  {fam:13s} {key:16s}: no level reaches it")
            else:
                print(f"  {fam:13s} {key:16s}: {pick['codec']} {pick['bits_per_element']:.3f} bits/element "
                      f"-> {pick['ratio_vs_int8']:.2f}x smaller than int8 (quality {pick['quality']:.6f})")
    zstd = res["codecs"]["zstd"]
    for name in ("kvstream-L2", "kvstream-klt-L1"):
        if name in res["codecs"]:
            r = res["codecs"][name]
            print(f"speed {name} vs zstd (pool / 1 process): encode {r['encode_msym_s']:.1f} / "
                  f"{r['encode_msym_s_1proc']:.1f} vs {zstd['encode_msym_s']:.1f} / {zstd['encode_msym_s_1proc']:.1f}"
                  f" Msym/s, decode {r['decode_msym_s']:.1f} / {r['decode_msym_s_1proc']:.1f} vs "
                  f"{zstd['decode_msym_s']:.1f} / {zstd['decode_msym_s_1proc']:.1f} Msym/s")


def _measure(source, ids, kv16, kv_ref, codec) -> tuple[float, float, float]:
    blobs = encode_chunks(kv16, codec)
    dec = decode_chunks(blobs, basis=codec.basis).astype(np.float32)
    bits = 8.0 * sum(map(len, blobs)) / kv16.size
    rel = float(np.linalg.norm(dec - kv_ref) / np.linalg.norm(kv_ref))
    return bits, rel, 1.0 - source.quality(ids, dec)


def ablation_scales_and_profiles(source, ids, kv_ref: np.ndarray) -> None:
    """Per-token vs per-channel scales (flat profile), and bin profiles, on the same levels."""
    kv16 = kv_ref.astype(np.float16)
    print("\n-- ablation: scale axis (profile flat): bits/elem, rel_err, 1-quality")
    for level in (1, 2, 3, 4):
        row = []
        for axis in ("token", "channel"):
            b, r, q = _measure(source, ids, kv16, kv_ref, CacheGenCodec(level, profile="flat", scale_axis=axis))
            row.append(f"{axis:7s} {b:.3f} {r:.3f} {q:.1e}")
        print(f"  L{level}: " + "   ".join(row))
    print("-- ablation: per-layer bins profile (token scales): bits/elem, 1-quality")
    profiles = {"early": "early", "flat": "flat", "late": "late",
                "calibrated": calibrate_profile(source, num_tokens=256, seed=1)}
    for level in (1, 2, 3, 4):
        row = []
        for name, prof in profiles.items():
            b, _, q = _measure(source, ids, kv16, kv_ref, CacheGenCodec(level, profile=prof))
            row.append(f"{name} {b:.3f} {q:.1e}")
        print(f"  L{level}: " + "   ".join(row))
    print(f"  calibrated bins at L2 (K, V per layer): {layer_bins(2, kv_ref.shape[0], profiles['calibrated']).tolist()}")


def delta_coding_bits(kv: np.ndarray, bins: int, anchor_every: int | None) -> float:
    """Entropy (bits/element, best table per group) of the codec's symbols with or without delta coding.

    Delta coding is closed-loop: each non-anchor token is predicted by the *decoded*
    anchor token of its group (CacheGen: groups of 10), so the error bound is unchanged.
    """
    layers, _, tokens = kv.shape[:3]
    x = kv.reshape(layers, 2, tokens, -1).astype(np.float64)
    total = 0.0
    for li in range(layers):
        for w in range(2):
            a = x[li, w]
            mean = a.mean(axis=0)
            step = 2 * np.abs(a - mean).max(axis=1) / bins
            if anchor_every is None:
                q = np.rint((a - mean) / step[:, None])
                m = bins // 2
            else:
                q = np.zeros_like(a)
                for t in range(tokens):
                    anchor = t - t % anchor_every
                    pred = mean if t == anchor else mean + q[anchor] * step[anchor]
                    q[t] = np.rint((a[t] - pred) / step[t])
                m = int(np.abs(q).max())
            total += code_lengths((q.T + m).astype(np.int32), m).min(axis=1).sum()
    return total / kv.size


def ablation_delta(kv_ref: np.ndarray, name: str) -> None:
    """Bits of plain vs anchor-delta coded symbols at the same quantiser."""
    print(f"-- ablation ({name}): delta coding across tokens, bits/element (entropy of symbols, side info excluded)")
    for bins in (8, 16, 32):
        plain = delta_coding_bits(kv_ref, bins, None)
        anchor = delta_coding_bits(kv_ref, bins, 10)
        prev = delta_coding_bits(kv_ref, bins, kv_ref.shape[2])  # one anchor: every token vs token 0
        print(f"  bins {bins:2d}: plain {plain:.3f}  anchor/10 {anchor:.3f} ({100 * (anchor / plain - 1):+.1f}%)  "
              f"single anchor {prev:.3f} ({100 * (prev / plain - 1):+.1f}%)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for the chosen models and print everything."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/kvstream-bench")
    ap.add_argument("--models", nargs="+", default=["minilm", "tiny"], choices=["minilm", "tiny"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the ablations")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    for model in args.models:
        source = make_source(model)
        res = run_bench(Path(args.out) / model, model=model, repeats=args.repeats, source=source)
        print_table(res)
        if not args.quick:
            ids = source.tokens(res["meta"]["tokens"], seed=0)
            kv_ref = source.extract(ids)
            if model == "minilm":
                ablation_scales_and_profiles(source, ids, kv_ref)
            ablation_delta(kv_ref[:, :, :256], model)
    print(f"\n(total {time.perf_counter() - t0:.0f} s; results in {args.out}/<model>/results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

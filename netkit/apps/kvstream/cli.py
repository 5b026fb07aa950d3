"""``netkit kvstream encode|decode|bench``: argparse registration and handlers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from netkit import validate as v
from netkit.files import staging_file

__all__ = ["add_kvstream_parser", "cmd_encode", "cmd_decode", "cmd_bench", "main"]


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = staging_file(path.parent, f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_array(path: str, option: str) -> np.ndarray:
    """A plain (not pickled) `.npy` array, or a one-line `UserError` naming `option`."""
    from netkit.errors import UserError

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"no such file {path!r}", source=option) from None
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: not a .npy array ({exc})", source=option) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise UserError(f"{path}: expected one .npy array, got an .npz archive", source=option)
    return arr


def _load_kv(path: str) -> np.ndarray:
    """The KV to encode: a finite float array [layers, 2, tokens, heads, head_dim] with at least one element."""
    from netkit.errors import UserError

    kv = _load_array(path, "--in")
    if kv.ndim != 5 or kv.shape[1] != 2 or kv.size == 0:
        raise UserError(f"{path}: expected a KV array [layers, 2, tokens, heads, head_dim] with no empty axis, "
                        f"got shape {kv.shape}", source="--in")
    if kv.dtype.kind not in "fiu":
        raise UserError(f"{path}: expected float16/float32 values, got {kv.dtype}", source="--in")
    if not np.isfinite(kv).all():
        raise UserError(f"{path}: holds NaN or infinite values", source="--in")
    return kv


def _load_basis(path: str | None):
    """The `--basis` KVBasis .npz, or None; a one-line `UserError` when it is not one."""
    from netkit.errors import UserError

    from .basis import KVBasis

    if not path:
        return None
    try:
        return KVBasis.load(path)
    except FileNotFoundError:
        raise UserError(f"no such file {path!r}", source="--basis") from None
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a KVBasis .npz (mean, rot) ({type(exc).__name__}: {exc})",
                        source="--basis") from None


def _profile_arg(value: str) -> str | np.ndarray:
    if value in ("early", "flat", "late", "calibrated"):
        return value
    return _load_array(value, "--profile")


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode a ``.npy`` KV ``[layers, 2, tokens, heads, head_dim]`` into a container file."""
    from .basis import KVBasis
    from .cachegen import CacheGenCodec
    from .chunks import encode_kv
    from .codec import get_codec

    from netkit.errors import UserError

    kv = _load_kv(args.input)
    if kv.dtype not in (np.float16, np.float32):
        kv = kv.astype(np.float32)
    if args.codec == "kvstream":
        profile = _profile_arg(args.profile)
        if isinstance(profile, str) and profile == "calibrated":
            raise UserError("calibrated needs a model; pass early, flat, late or a saved [layers, 2] .npy",
                            source="--profile")
        basis = _load_basis(args.basis)
        try:
            codec = CacheGenCodec(args.level, profile=profile, basis=basis)
        except ValueError as exc:
            raise UserError(str(exc), source="--profile" if not isinstance(profile, str) else "--basis") from None
    else:
        codec = get_codec(args.codec)
    data = encode_kv(kv, codec, chunk_tokens=args.chunk_tokens, workers=args.workers)
    _atomic_write(Path(args.out), lambda f: f.write(data))
    print(f"{args.input}: {kv.shape} {kv.dtype} -> {args.out}: {len(data)} bytes, "
          f"{8 * len(data) / kv.size:.3f} bits/element ({codec.name})")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a container file back to a ``.npy`` KV."""
    from .basis import KVBasis
    from .chunks import decode_kv

    from netkit.errors import UserError

    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {args.input!r}: {exc.strerror}", source="--in") from None
    try:
        kv = decode_kv(data, workers=args.workers, basis=_load_basis(args.basis))
    except UserError:
        raise
    except ValueError as exc:
        raise UserError(f"{args.input}: {exc}", source="--in") from None
    _atomic_write(Path(args.out), lambda f: np.save(f, kv))
    print(f"{args.input} -> {args.out}: {kv.shape} {kv.dtype}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the codec benchmark and write ``DIR/results.json``."""
    from .bench import run_bench
    from .lmbench import LM_MODELS, format_lm_table, run_lm_bench

    if args.model in LM_MODELS:
        res = run_lm_bench(args.out, model=args.model, tokens=args.tokens, segments=args.segments,
                           continuation=args.continuation, chunk_tokens=args.chunk_tokens, profile=args.profile,
                           levels=args.levels, repeats=args.repeats, workers=args.workers,
                           progress=not args.quiet, klt=not args.no_klt)
        print(format_lm_table(res))
        print(json.dumps(res["summary"], indent=2))
        print(f"wrote {Path(args.out) / 'results.json'}")
        return 0
    res = run_bench(args.out, model=args.model, tokens=args.tokens, chunk_tokens=args.chunk_tokens,
                    profile=args.profile, repeats=args.repeats, workers=args.workers, progress=not args.quiet,
                    klt=not args.no_klt)
    rows = [f"{'codec':16s} {'bits/elem':>9s} {'rel_err':>8s} {'quality':>10s} {'enc Msym/s':>10s} "
            f"{'dec Msym/s':>10s} {'enc 1proc':>10s} {'dec 1proc':>10s}"]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for name, r in res["codecs"].items():
        rows.append(f"{name:16s} {r['bits_per_element']:9.3f} {r['rel_error']:8.4f} {r['quality']:10.6f} "
                    f"{f(r['encode_msym_s']):>10s} {f(r['decode_msym_s']):>10s} "
                    f"{f(r['encode_msym_s_1proc']):>10s} {f(r['decode_msym_s_1proc']):>10s}")
    print("\n".join(rows))
    print(json.dumps(res["summary"], indent=2))
    print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


def add_kvstream_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``kvstream`` with ``encode``, ``decode`` and ``bench``; each sets ``args.func(args) -> int``."""
    from .cachegen import LEVEL_BINS
    from .chunks import DEFAULT_CHUNK_TOKENS

    p = subparsers.add_parser("kvstream", help="CacheGen-like KV-cache codec: encode, decode, benchmark")
    sub = p.add_subparsers(dest="kvstream_command", required=True)

    e = sub.add_parser("encode", help="encode a KV .npy [layers, 2, tokens, heads, head_dim] into a container")
    e.add_argument("--in", type=v.in_file, dest="input", required=True, help="input KV .npy (float16/float32)")
    e.add_argument("--out", type=v.out_file, required=True, help="output container file")
    e.add_argument("--level", type=v.arg_int(0, len(LEVEL_BINS) - 1), default=1, choices=range(len(LEVEL_BINS)),
                   help="0 = highest quality .. %d = smallest (default 1)" % (len(LEVEL_BINS) - 1))
    e.add_argument("--codec", default="kvstream", choices=["kvstream", "int8", "fp16", "zstd"])
    e.add_argument("--profile", default="early",
                   help="per-layer bins: early (default), flat, late, or a [layers, 2] multipliers .npy")
    e.add_argument("--basis", type=v.in_file, default=None, help="KVBasis .npz: code in rotated channel space (kvstream-klt)")
    e.add_argument("--chunk-tokens", type=v.arg_int(1, 1_000_000), default=DEFAULT_CHUNK_TOKENS)
    e.add_argument("--workers", type=v.jobs_arg, default=None, help="processes (default: all CPUs for large inputs)")
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decode a container back to a KV .npy")
    d.add_argument("--in", type=v.in_file, dest="input", required=True)
    d.add_argument("--out", type=v.out_file, required=True)
    d.add_argument("--basis", type=v.in_file, default=None, help="the KVBasis .npz the file was encoded with, if any")
    d.add_argument("--workers", type=v.jobs_arg, default=None)
    d.set_defaults(func=cmd_decode)

    b = sub.add_parser("bench", help="bits/element, error, model quality and speed of every codec")
    b.add_argument("--out", type=v.out_folder, required=True, help="directory for results.json")
    b.add_argument("--model", default="minilm", choices=["minilm", "tiny", "smollm2-135m"],
                   help="smollm2-135m: the trained decoder LLM, quality = perplexity on held-out Brown text")
    b.add_argument("--tokens", type=v.arg_int(1, 1_000_000), default=None,
                   help="tokens of KV (default 512 minilm, 1024 tiny; smollm2-135m: context per segment, 1024)")
    b.add_argument("--segments", type=v.arg_int(1, 10_000), default=8, help="smollm2-135m: held-out documents (default 8)")
    b.add_argument("--continuation", type=v.arg_int(1, 100_000), default=128,
                   help="smollm2-135m: scored continuation tokens per segment (default 128)")
    b.add_argument("--levels", type=v.arg_int(0, len(LEVEL_BINS) - 1), nargs="+", default=None, choices=range(len(LEVEL_BINS)),
                   help="smollm2-135m: kvstream levels to measure (default all)")
    b.add_argument("--chunk-tokens", type=v.arg_int(1, 1_000_000), default=DEFAULT_CHUNK_TOKENS)
    b.add_argument("--profile", default="calibrated", choices=["calibrated", "early", "flat", "late"])
    b.add_argument("--repeats", type=v.arg_int(1, 1000), default=3)
    b.add_argument("--workers", type=v.jobs_arg, default=None)
    b.add_argument("--no-klt", action="store_true", help="skip the kvstream-klt-L* (rotated basis) codecs")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench)

    from .streamlive import add_stream_live_arguments, cmd_stream_live
    from .streamsim import add_stream_bench_arguments, cmd_stream_bench

    sb = sub.add_parser("stream-bench", help="adaptive KV streaming vs int8, fp16, text over LTE traces (simulator)")
    add_stream_bench_arguments(sb)
    sb.set_defaults(func=cmd_stream_bench)

    sl = sub.add_parser("stream-live", help="one KV streaming request over kernel TCP through a live trace link")
    add_stream_live_arguments(sl)
    sl.set_defaults(func=cmd_stream_live)
    return p


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m netkit.apps.kvstream.cli kvstream ...``."""
    parser = v.OneLineParser(prog="netkit")
    add_kvstream_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

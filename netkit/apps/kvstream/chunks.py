"""Split a KV sequence into token chunks, code them on all cores, and pack/unpack container files.

Many chunks are encoded/decoded in a process pool (``ProcessPoolExecutor``). On
Linux the workers are forked: ``forkserver``/``spawn`` would re-run the caller's
``__main__`` in every worker, which breaks scripts without a main guard; the
workers only run numpy and constriction, so inheriting the parent's state is safe.
The pool is created on first use and kept for later calls
(:func:`shutdown_pool` ends it). KV arrays do not travel through pickles and pipes:
the parent and the workers share them through a memory-mapped file in ``/dev/shm``
(measured: pickling a 256-token MiniLM chunk there and back cost ~4 ms, a fifth of
its decode time). Small inputs take a serial path, since starting work in other
processes costs more than it saves there.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .basis import KVBasis
from .cachegen import LEVEL_BINS, CacheGenCodec
from .codec import Codec, decode_chunk
from .container import Kind, check_declared_size, pack_container, peek_chunk, unpack_container
from .errors import KVFormatError

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "PARALLEL_MIN_ELEMENTS",
    "split_tokens",
    "encode_chunks",
    "decode_chunks",
    "encode_kv",
    "decode_kv",
    "encode_levels",
    "chunk_sizes",
    "shutdown_pool",
    "default_workers",
]

DEFAULT_CHUNK_TOKENS = 256
#: Below this many KV elements in total, work stays in the calling process.
PARALLEL_MIN_ELEMENTS = 1 << 21

_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def default_workers() -> int:
    """Worker processes to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    if _pool is None or _pool_workers != workers:
        shutdown_pool()
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method))
        _pool_workers = workers
    return _pool


def shutdown_pool() -> None:
    """Stop the shared worker processes (they are restarted on the next parallel call)."""
    global _pool, _pool_workers
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool, _pool_workers = None, 0


atexit.register(shutdown_pool)


def _resolve_workers(workers: int | None, n_items: int, elements: int) -> int:
    if mp.current_process().daemon:  # daemonic processes may not have children
        return 1
    if workers is None:
        if elements < PARALLEL_MIN_ELEMENTS:
            return 1
        workers = default_workers()
    return max(1, min(workers, n_items))


def split_tokens(kv: np.ndarray, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> list[tuple[int, np.ndarray]]:
    """``(token_start, kv[:, :, start:start + chunk_tokens])`` views covering the sequence."""
    if chunk_tokens <= 0:
        raise ValueError("chunk_tokens must be positive")
    t = kv.shape[2]
    return [(s, kv[:, :, s: s + chunk_tokens]) for s in range(0, max(t, 1), chunk_tokens)]


def _shared_dir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class _SharedArray:
    """A numpy array in a temporary memory-mapped file that worker processes can open by path."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        fd, self.path = tempfile.mkstemp(prefix="netkit-kv-", suffix=".bin", dir=_shared_dir())
        os.close(fd)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        nbytes = int(np.prod(shape)) * self.dtype.itemsize
        with open(self.path, "r+b") as f:
            f.truncate(max(nbytes, 1))
        self.array = np.memmap(self.path, dtype=self.dtype, mode="r+", shape=self.shape)

    def close(self) -> None:
        del self.array
        try:
            os.unlink(self.path)
        except FileNotFoundError:  # pragma: no cover
            pass


def _open_shared(path: str, shape: tuple[int, ...], dtype: str, mode: str) -> np.ndarray:
    return np.memmap(path, dtype=np.dtype(dtype), mode=mode, shape=shape)


def _encode_shared(codec: Codec, path: str, shape: tuple[int, ...], dtype: str, start: int, stop: int) -> bytes:
    kv = _open_shared(path, shape, dtype, "r")
    return codec.encode(np.asarray(kv[:, :, start:stop]), token_start=start)


def _decode_shared(blob: bytes, path: str, shape: tuple[int, ...], dtype: str, start: int, stop: int,
                   basis: KVBasis | None) -> None:
    out = _open_shared(path, shape, dtype, "r+")
    decode_chunk(blob, out=out[:, :, start:stop], basis=basis)
    out.flush()


def encode_chunks(kv: np.ndarray, codec: Codec, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                  workers: int | None = None) -> list[bytes]:
    """Encode ``kv[layers, 2, tokens, heads, head_dim]`` chunk by chunk; one blob per chunk.

    ``workers=None`` picks serial for small inputs and all CPUs otherwise; ``1``
    forces serial; ``n`` uses n processes.
    """
    kv = np.asarray(kv)
    parts = split_tokens(kv, chunk_tokens)
    n = _resolve_workers(workers, len(parts), int(kv.size))
    if n == 1:
        return [codec.encode(c, token_start=s) for s, c in parts]
    basis = getattr(codec, "basis", None)
    if basis is not None:
        basis.share()  # workers get a file reference, not megabytes per task
    shared = _SharedArray(kv.shape, kv.dtype)
    try:
        shared.array[...] = kv
        shared.array.flush()
        starts = [s for s, _ in parts]
        stops = [s + c.shape[2] for s, c in parts]
        k = len(parts)
        return list(_get_pool(n).map(_encode_shared, [codec] * k, [shared.path] * k, [kv.shape] * k,
                                     [kv.dtype.str] * k, starts, stops))
    finally:
        shared.close()


def decode_chunks(blobs: Sequence[bytes | memoryview], workers: int | None = None,
                  basis: KVBasis | None = None) -> np.ndarray:
    """Decode chunk blobs (any codec but text) and join them along the token axis, in blob order.

    ``basis`` is needed for chunks coded with one (``kvstream-klt-*``).
    """
    if not blobs:
        raise ValueError("no chunks to decode")
    heads = [peek_chunk(b) for b in blobs]
    if any(h.kind == Kind.TEXT for h in heads):
        raise KVFormatError("text chunks carry token ids; recompute their KV with the model")
    first = heads[0]
    for i, h in enumerate(heads):
        if (h.layers, h.heads, h.head_dim, h.dtype) != (first.layers, first.heads, first.head_dim, first.dtype):
            raise KVFormatError(f"chunk {i} has shape {h.shape} {h.dtype}, chunk 0 has {first.shape} {first.dtype}")
    total = sum(h.tokens for h in heads)
    shape = (first.layers, 2, total, first.heads, first.head_dim)
    check_declared_size(shape, sum(len(b) for b in blobs), "chunks")  # before allocating the output
    stops = np.cumsum([h.tokens for h in heads]).tolist()
    starts = [0] + stops[:-1]
    n = _resolve_workers(workers, len(blobs), sum(h.elements for h in heads))
    if n == 1:
        out = np.empty(shape, dtype=first.dtype)
        for blob, a, b in zip(blobs, starts, stops):
            decode_chunk(blob, out=out[:, :, a:b], basis=basis)
        return out
    if basis is not None:
        basis.share()
    shared = _SharedArray(shape, first.dtype)
    try:
        k = len(blobs)
        list(_get_pool(n).map(_decode_shared, [bytes(b) for b in blobs], [shared.path] * k, [shape] * k,
                              [first.dtype.str] * k, starts, stops, [basis] * k))
        return np.array(shared.array)
    finally:
        shared.close()


def encode_kv(kv: np.ndarray, codec: Codec, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
              workers: int | None = None) -> bytes:
    """Encode a whole KV sequence into one container (header, chunk index, chunks)."""
    kv = np.asarray(kv)
    blobs = encode_chunks(kv, codec, chunk_tokens, workers)
    first = peek_chunk(blobs[0])
    return pack_container(first.kind, first.level, kv.dtype, kv.shape, chunk_tokens, blobs)


def decode_kv(data: bytes | memoryview, workers: int | None = None, basis: KVBasis | None = None) -> np.ndarray:
    """Decode a container written by :func:`encode_kv`; checks every header, index and CRC."""
    hdr, chunks = unpack_container(data)
    kv = decode_chunks(chunks, workers, basis)
    if kv.shape != hdr.shape or kv.dtype != hdr.dtype:
        raise KVFormatError(f"container says {hdr.shape} {hdr.dtype}, chunks decode to {kv.shape} {kv.dtype}")
    return kv


def encode_levels(kv: np.ndarray, levels: Iterable[int] | None = None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                  profile: str | np.ndarray = "early", workers: int | None = None,
                  basis: KVBasis | None = None) -> dict[int, list[bytes]]:
    """Pre-encode every chunk at every level (what a bandwidth-adaptive sender picks from); default all levels."""
    levels = range(len(LEVEL_BINS)) if levels is None else levels
    return {lv: encode_chunks(kv, CacheGenCodec(lv, profile=profile, basis=basis), chunk_tokens, workers)
            for lv in levels}


def chunk_sizes(encoded: dict[int, list[bytes]]) -> dict[int, list[int]]:
    """Bytes of every chunk at every level, from :func:`encode_levels` output."""
    return {lv: [len(b) for b in blobs] for lv, blobs in encoded.items()}

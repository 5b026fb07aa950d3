"""Baseline codecs under the same chunk API as CacheGen: fp16, int8, zstd, and text (recompute)."""

from __future__ import annotations

import numpy as np
import zstandard

from .container import CHUNK_HEADER_BYTES, NO_LEVEL, Kind, pack_chunk, unpack_chunk
from .errors import KVFormatError

__all__ = ["FP16Codec", "Int8Codec", "ZstdCodec", "TextCodec"]


def _check_kv(kv: np.ndarray) -> np.ndarray:
    kv = np.asarray(kv)
    if kv.ndim != 5 or kv.shape[1] != 2:
        raise ValueError(f"KV must be [layers, 2, tokens, heads, head_dim], got shape {kv.shape}")
    if kv.dtype not in (np.float16, np.float32):
        raise ValueError(f"KV dtype must be float16 or float32, got {kv.dtype}")
    return kv


def _expect(data: bytes | memoryview, kind: Kind):
    hdr, payload = unpack_chunk(data)
    if hdr.kind != kind:
        raise KVFormatError(f"chunk is {hdr.kind.name}, not {kind.name}")
    return hdr, payload


class FP16Codec:
    """Raw float16: 16 bits per element, error = float16 rounding."""

    kind = Kind.FP16
    name = "fp16"

    def encode(self, kv: np.ndarray, token_start: int = 0) -> bytes:
        """Encode a KV chunk as little-endian float16."""
        kv = _check_kv(kv)
        return pack_chunk(self.kind, NO_LEVEL, kv.dtype, kv.shape, kv.astype("<f2").tobytes(), token_start)

    @staticmethod
    def decode(data: bytes | memoryview) -> np.ndarray:
        """Decode to the chunk's original dtype and shape."""
        hdr, payload = _expect(data, Kind.FP16)
        if len(payload) != 2 * hdr.elements:
            raise KVFormatError(f"fp16 payload has {len(payload)} bytes, shape needs {2 * hdr.elements}")
        return np.frombuffer(payload, dtype="<f2").astype(hdr.dtype).reshape(hdr.shape)


class Int8Codec:
    """8-bit quantisation with one float16 scale per (layer, K/V, token): ``scale = max|x| / 127``.

    Error bound: ``|x - x_hat| <= scale / 2`` per element (the scale is rounded up to float16).
    """

    kind = Kind.INT8
    name = "int8"

    def encode(self, kv: np.ndarray, token_start: int = 0) -> bytes:
        """Quantise symmetric per token to int8; payload = float16 scales then int8 values."""
        kv = _check_kv(kv)
        layers, _, tokens, heads, head_dim = kv.shape
        x = kv.reshape(layers, 2, tokens, heads * head_dim).astype(np.float32)
        amax = np.abs(x).max(axis=3) if x.size else np.zeros((layers, 2, tokens), np.float32)
        scale = (amax / 127.0).astype(np.float16)
        if not np.all(np.isfinite(scale)):
            raise ValueError("KV magnitude too large for float16 int8 scales (or not finite)")
        short = scale.astype(np.float32) * 127.0 < amax
        scale = np.where(short, np.nextafter(scale, np.float16(np.inf)), scale)
        safe = np.where(scale > 0, scale, np.float16(1)).astype(np.float32)
        q = np.clip(np.rint(x / safe[..., None]), -127, 127).astype(np.int8)
        payload = scale.astype("<f2").tobytes() + q.tobytes()
        return pack_chunk(self.kind, NO_LEVEL, kv.dtype, kv.shape, payload, token_start)

    @staticmethod
    def decode(data: bytes | memoryview) -> np.ndarray:
        """Dequantise to the chunk's original dtype and shape."""
        hdr, payload = _expect(data, Kind.INT8)
        n_scale = 2 * hdr.layers * hdr.tokens
        if len(payload) != 2 * n_scale + hdr.elements:
            raise KVFormatError(f"int8 payload has {len(payload)} bytes, shape needs {2 * n_scale + hdr.elements}")
        scale = np.frombuffer(payload[: 2 * n_scale], dtype="<f2").astype(np.float32)
        q = np.frombuffer(payload[2 * n_scale:], dtype=np.int8).reshape(n_scale, -1)
        x = q.astype(np.float32) * scale[:, None]
        return x.astype(hdr.dtype).reshape(hdr.shape)


class ZstdCodec:
    """Lossless (after float16 rounding) zstd of the float16 bytes."""

    kind = Kind.ZSTD

    def __init__(self, level: int = 3) -> None:
        self.level = level
        self.name = "zstd"

    def encode(self, kv: np.ndarray, token_start: int = 0) -> bytes:
        """Compress the chunk's little-endian float16 bytes with zstd."""
        kv = _check_kv(kv)
        payload = zstandard.ZstdCompressor(level=self.level).compress(kv.astype("<f2").tobytes())
        return pack_chunk(self.kind, min(self.level, 254), kv.dtype, kv.shape, payload, token_start)

    @staticmethod
    def decode(data: bytes | memoryview) -> np.ndarray:
        """Decompress to the chunk's original dtype and shape."""
        hdr, payload = _expect(data, Kind.ZSTD)
        try:
            raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=2 * hdr.elements)
        except zstandard.ZstdError as e:
            raise KVFormatError(f"zstd payload is corrupt: {e}") from None
        if len(raw) != 2 * hdr.elements:
            raise KVFormatError(f"zstd payload decompressed to {len(raw)} bytes, shape needs {2 * hdr.elements}")
        return np.frombuffer(raw, dtype="<f2").astype(hdr.dtype).reshape(hdr.shape)


class TextCodec:
    """Recompute pseudo-codec: send the token ids; the receiver re-runs the model to get the KV.

    Its input is the token ids that produce a KV chunk (not the KV). Ids are sent as
    uint16 when the vocabulary fits, else uint32. ``kv_shape`` (layers, heads,
    head_dim), when given, is recorded so the receiver knows what it will recompute.
    """

    kind = Kind.TEXT
    name = "text"

    def __init__(self, vocab_size: int = 1 << 16, kv_shape: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.vocab_size = vocab_size
        self.kv_shape = kv_shape

    def _dtype(self) -> np.dtype:
        return np.dtype("<u2") if self.vocab_size <= 1 << 16 else np.dtype("<u4")

    def encode(self, token_ids: np.ndarray, token_start: int = 0) -> bytes:
        """Encode 1-D token ids."""
        ids = np.asarray(token_ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        dt = self._dtype()
        layers, heads, head_dim = self.kv_shape
        return pack_chunk(self.kind, NO_LEVEL, dt.newbyteorder("="), (layers, 2, ids.size, heads, head_dim),
                          ids.astype(dt).tobytes(), token_start)

    @staticmethod
    def decode(data: bytes | memoryview) -> np.ndarray:
        """Return the token ids (int64); the receiver recomputes the KV from them."""
        hdr, payload = _expect(data, Kind.TEXT)
        width = hdr.dtype.itemsize
        if len(payload) != width * hdr.tokens:
            raise KVFormatError(f"text payload has {len(payload)} bytes, {hdr.tokens} tokens need {width * hdr.tokens}")
        return np.frombuffer(payload, dtype=hdr.dtype.newbyteorder("<")).astype(np.int64)

    @staticmethod
    def token_count(data: bytes | memoryview) -> int:
        """Tokens a text chunk carries (= tokens the receiver must recompute)."""
        hdr, _ = _expect(data, Kind.TEXT)
        return hdr.tokens

    def encoded_size(self, num_tokens: int) -> int:
        """Bytes of a text chunk of ``num_tokens`` tokens, without encoding it."""
        return CHUNK_HEADER_BYTES + self._dtype().itemsize * num_tokens

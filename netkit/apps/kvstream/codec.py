"""The ``Codec`` protocol, codec lookup by name, and decoding of any chunk by its header."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .basis import KVBasis
from .baselines import FP16Codec, Int8Codec, TextCodec, ZstdCodec
from .cachegen import LEVEL_BINS, CacheGenCodec
from .container import Kind, peek_chunk

__all__ = ["Codec", "get_codec", "codec_names", "decode_chunk"]


@runtime_checkable
class Codec(Protocol):
    """A KV chunk codec: ``encode(kv_chunk) -> bytes`` (a self-describing chunk) and back.

    ``kv_chunk`` is ``[layers, 2, tokens, heads, head_dim]`` float16/float32;
    ``token_start`` is recorded in the chunk header for the receiver.
    """

    name: str

    def encode(self, kv: np.ndarray, token_start: int = 0) -> bytes:
        """Encode one chunk."""
        ...

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one chunk produced by :meth:`encode`."""
        ...


def codec_names() -> list[str]:
    """Names :func:`get_codec` accepts for KV codecs (``text`` is separate: it takes token ids)."""
    return [f"kvstream-L{i}" for i in range(len(LEVEL_BINS))] + ["int8", "fp16", "zstd"]


def get_codec(name: str, **kwargs: object) -> Codec:
    """Codec by name: ``kvstream-L<n>`` (kwargs: profile, scale_axis), ``kvstream-klt-L<n>`` (also
    ``basis=`` required), ``int8``, ``fp16``, ``zstd``, ``text``."""
    if name.startswith("kvstream-klt-L"):
        if kwargs.get("basis") is None:
            raise ValueError(f"{name} needs basis=KVBasis (see calibrate.calibrate_basis)")
        return CacheGenCodec(int(name[len("kvstream-klt-L"):]), **kwargs)  # type: ignore[arg-type]
    if name.startswith("kvstream-L"):
        return CacheGenCodec(int(name[len("kvstream-L"):]), **kwargs)  # type: ignore[arg-type]
    table = {"fp16": FP16Codec, "int8": Int8Codec, "zstd": ZstdCodec, "text": TextCodec}
    if name not in table:
        raise ValueError(f"unknown codec {name!r}; known: {codec_names() + ['text']}")
    return table[name](**kwargs)  # type: ignore[arg-type]


_DECODERS = {
    Kind.CACHEGEN: CacheGenCodec.decode,
    Kind.FP16: FP16Codec.decode,
    Kind.INT8: Int8Codec.decode,
    Kind.ZSTD: ZstdCodec.decode,
    Kind.TEXT: TextCodec.decode,
}


def decode_chunk(data: bytes | memoryview, out: np.ndarray | None = None,
                 basis: KVBasis | None = None) -> np.ndarray:
    """Decode any chunk by the codec kind in its header (text chunks decode to token ids).

    ``out`` (KV codecs only), if given, receives the decoded chunk and is returned.
    ``basis`` is needed for CacheGen chunks coded with one (``kvstream-klt-*``).
    """
    kind = peek_chunk(data).kind
    if kind == Kind.CACHEGEN:
        return CacheGenCodec.decode(data, out=out, basis=basis)
    kv = _DECODERS[kind](data)
    if out is None:
        return kv
    if out.shape != kv.shape:
        raise ValueError(f"out has shape {out.shape}, chunk decodes to {kv.shape}")
    out[...] = kv
    return out

"""kvstream: a CacheGen-like KV-cache codec, baselines, and KV sources (CacheGen, SIGCOMM'24).

KV layout everywhere: ``[layers, 2, tokens, heads, head_dim]`` (axis 1: K, V), numpy
float16/float32. The codec API for the streaming layer:

* ``CacheGenCodec(level).encode(chunk) -> bytes`` / ``decode_chunk(bytes) -> array``
* ``encode_levels(kv)`` pre-encodes every chunk at every level; ``chunk_sizes`` gives their bytes
* ``TextCodec`` sends token ids instead (the receiver recomputes the KV)
* ``KVBasis`` (optional, per model): code in rotated channel space, ``kvstream-klt-L*``
* ``encode_kv`` / ``decode_kv``: whole sequences in one container file

Model-dependent parts (``sources``, ``calibrate``, ``bench``) import torch lazily;
importing this package does not.
"""

from .basis import KVBasis
from .baselines import FP16Codec, Int8Codec, TextCodec, ZstdCodec
from .cachegen import LEVEL_BINS, CacheGenCodec, layer_bins
from .chunks import (
    DEFAULT_CHUNK_TOKENS,
    chunk_sizes,
    decode_chunks,
    decode_kv,
    encode_chunks,
    encode_kv,
    encode_levels,
    shutdown_pool,
    split_tokens,
)
from .codec import Codec, codec_names, decode_chunk, get_codec
from .container import ChunkHeader, Kind, peek_chunk
from .errors import BadMagicError, ChecksumError, KVFormatError, TruncatedError, UnsupportedVersionError

__all__ = [
    "LEVEL_BINS",
    "DEFAULT_CHUNK_TOKENS",
    "Codec",
    "CacheGenCodec",
    "KVBasis",
    "FP16Codec",
    "Int8Codec",
    "ZstdCodec",
    "TextCodec",
    "ChunkHeader",
    "Kind",
    "KVFormatError",
    "BadMagicError",
    "UnsupportedVersionError",
    "TruncatedError",
    "ChecksumError",
    "codec_names",
    "get_codec",
    "decode_chunk",
    "peek_chunk",
    "layer_bins",
    "split_tokens",
    "encode_chunks",
    "decode_chunks",
    "encode_kv",
    "decode_kv",
    "encode_levels",
    "chunk_sizes",
    "shutdown_pool",
]

"""Self-describing binary formats: one encoded chunk, and a file of many chunks.

Chunk (what the streaming layer sends; decodable on its own), little-endian::

    0   4  magic  b"NKKC"
    4   1  version (CHUNK_VERSION)
    5   1  codec kind (Kind)
    6   1  level (0..255; 255 = not applicable)
    7   1  dtype (DTYPES)
    8  16  layers, tokens, heads, head_dim   (u32 each; tokens of this chunk)
    24  4  token_start (position of the chunk's first token in the sequence)
    28  4  payload length in bytes
    32  4  CRC32 of bytes 0..31 and of the payload
    36  .. payload (codec specific)

Container (a file of chunks, what ``kvstream encode`` writes)::

    0   4  magic  b"NKKV"
    4   1  version (CONTAINER_VERSION)
    5   1  codec kind        6  1 level        7  1 dtype
    8  16  layers, tokens, heads, head_dim (u32 each; whole sequence)
    24  4  chunk_tokens (nominal chunk length)
    28  4  number of chunks n
    32 16n chunk index: (offset u64 from container start, length u32, tokens u32)
    ..  4  CRC32 of everything before it
    ..     the chunks, each a complete chunk as above (each with its own CRC)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .errors import BadMagicError, ChecksumError, KVFormatError, TruncatedError, UnsupportedVersionError

__all__ = [
    "Kind",
    "KVHeader",
    "ChunkHeader",
    "ContainerHeader",
    "CHUNK_MAGIC",
    "CONTAINER_MAGIC",
    "CHUNK_VERSION",
    "CONTAINER_VERSION",
    "NO_LEVEL",
    "dtype_code",
    "code_dtype",
    "pack_chunk",
    "unpack_chunk",
    "peek_chunk",
    "pack_container",
    "unpack_container",
]

CHUNK_MAGIC = b"NKKC"
CONTAINER_MAGIC = b"NKKV"
CHUNK_VERSION = 1
CONTAINER_VERSION = 1
NO_LEVEL = 255

_CHUNK = struct.Struct("<4sBBBB6I")  # magic, version, kind, level, dtype, L T H D, start, payload len
_CRC = struct.Struct("<I")
_CONT = struct.Struct("<4sBBBB6I")  # magic, version, kind, level, dtype, L T H D, chunk_tokens, n
_INDEX = struct.Struct("<QII")
CHUNK_HEADER_BYTES = _CHUNK.size + _CRC.size
#: declared KV elements a chunk or container may claim per byte it really holds (1/8192 bit per element, far
#: beyond any codec's compression), so a forged header cannot make the decoder allocate gigabytes
MAX_ELEMENTS_PER_BYTE = 65_536
#: the most KV elements one container may declare (4 GiB as float16)
MAX_ELEMENTS = 2**31


def check_declared_size(shape: tuple[int, ...], actual_bytes: int, what: str) -> None:
    """Refuse a header whose declared shape cannot fit in the bytes that carry it (before any allocation)."""
    elements = 1
    for n in shape:
        elements *= n
    if elements > MAX_ELEMENTS:
        raise KVFormatError(f"kvstream {what} declares shape {shape} = {elements} elements; the limit is "
                            f"{MAX_ELEMENTS}")
    if elements > MAX_ELEMENTS_PER_BYTE * max(actual_bytes, 1):
        raise KVFormatError(f"kvstream {what} declares shape {shape} = {elements} elements but holds only "
                            f"{actual_bytes} bytes (at most {MAX_ELEMENTS_PER_BYTE} elements per byte)")

# dtype codes; token ids (text pseudo-codec) use the integer codes
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float16),
    2: np.dtype(np.float32),
    3: np.dtype(np.uint16),
    4: np.dtype(np.uint32),
}


class Kind(IntEnum):
    """Codec that produced a chunk's payload."""

    CACHEGEN = 1
    FP16 = 2
    INT8 = 3
    ZSTD = 4
    TEXT = 5


def dtype_code(dtype: np.dtype | type) -> int:
    """The one-byte code of a supported dtype."""
    dt = np.dtype(dtype)
    for code, d in DTYPES.items():
        if d == dt:
            return code
    raise ValueError(f"unsupported dtype {dt} (kvstream takes float16/float32 KV)")


def code_dtype(code: int) -> np.dtype:
    """The dtype of a one-byte code; raises :class:`KVFormatError` if unknown."""
    try:
        return DTYPES[code]
    except KeyError:
        raise KVFormatError(f"unknown dtype code {code} in kvstream header") from None


@dataclass(frozen=True)
class KVHeader:
    """What a chunk's and a container's headers both say: the encoding and the KV shape they hold."""

    kind: Kind
    level: int
    dtype: np.dtype
    layers: int
    tokens: int
    heads: int
    head_dim: int

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """KV shape, ``(layers, 2, tokens, heads, head_dim)``: of the chunk, or of the whole sequence."""
        return (self.layers, 2, self.tokens, self.heads, self.head_dim)


@dataclass(frozen=True)
class ChunkHeader(KVHeader):
    """Decoded fixed header of one chunk."""

    token_start: int
    payload_bytes: int
    version: int = CHUNK_VERSION

    @property
    def elements(self) -> int:
        """Number of KV elements the chunk stands for."""
        return self.layers * 2 * self.tokens * self.heads * self.head_dim


def pack_chunk(kind: Kind, level: int, dtype: np.dtype | type, shape: tuple[int, ...], payload: bytes,
               token_start: int = 0) -> bytes:
    """Wrap a codec payload in a chunk header with a CRC32 over header and payload."""
    layers, two, tokens, heads, head_dim = shape
    if two != 2:
        raise ValueError(f"KV shape must be [layers, 2, tokens, heads, head_dim], got {shape}")
    head = _CHUNK.pack(CHUNK_MAGIC, CHUNK_VERSION, int(kind), int(level), dtype_code(dtype),
                       layers, tokens, heads, head_dim, token_start, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"".join((head, _CRC.pack(crc), payload))


def _parse_chunk_header(data: bytes | memoryview) -> tuple[ChunkHeader, int]:
    if len(data) < 4:
        raise TruncatedError(len(data), CHUNK_HEADER_BYTES, "chunk header")
    magic = bytes(data[:4])
    if magic != CHUNK_MAGIC:
        raise BadMagicError(CHUNK_MAGIC, magic, "chunk")
    if len(data) < 5:
        raise TruncatedError(len(data), CHUNK_HEADER_BYTES, "chunk header")
    if data[4] != CHUNK_VERSION:
        raise UnsupportedVersionError(data[4], CHUNK_VERSION, "chunk")
    if len(data) < CHUNK_HEADER_BYTES:
        raise TruncatedError(len(data), CHUNK_HEADER_BYTES, "chunk header")
    _, version, kind, level, dt, layers, tokens, heads, head_dim, start, plen = _CHUNK.unpack_from(data)
    (crc,) = _CRC.unpack_from(data, _CHUNK.size)
    try:
        kind_e = Kind(kind)
    except ValueError:
        raise KVFormatError(f"unknown codec kind {kind} in kvstream chunk header") from None
    hdr = ChunkHeader(kind_e, level, code_dtype(dt), layers, tokens, heads, head_dim, start, plen, version)
    return hdr, crc


def peek_chunk(data: bytes | memoryview) -> ChunkHeader:
    """Read a chunk's header without checking or decoding its payload."""
    return _parse_chunk_header(data)[0]


def unpack_chunk(data: bytes | memoryview) -> tuple[ChunkHeader, memoryview]:
    """Validate a chunk (magic, version, length, CRC32) and return its header and payload.

    Raises :class:`BadMagicError`, :class:`UnsupportedVersionError`,
    :class:`TruncatedError` or :class:`ChecksumError`.
    """
    mv = memoryview(data).cast("B")
    hdr, crc = _parse_chunk_header(mv)
    end = CHUNK_HEADER_BYTES + hdr.payload_bytes
    if len(mv) < end:
        raise TruncatedError(len(mv), end, "chunk payload")
    if len(mv) > end:
        raise KVFormatError(f"{len(mv) - end} trailing bytes after kvstream chunk of {end} bytes")
    payload = mv[CHUNK_HEADER_BYTES:end]
    computed = zlib.crc32(payload, zlib.crc32(mv[: _CHUNK.size]))
    if computed != crc:
        raise ChecksumError(crc, computed, "chunk")
    check_declared_size(hdr.shape, hdr.payload_bytes, "chunk")  # a forged header with a valid CRC
    return hdr, payload


@dataclass(frozen=True)
class ContainerHeader(KVHeader):
    """Decoded header of a container file (whole-sequence shape plus chunk index)."""

    chunk_tokens: int
    index: tuple[tuple[int, int, int], ...]  # (offset, length, tokens) per chunk
    version: int = CONTAINER_VERSION


def pack_container(kind: Kind, level: int, dtype: np.dtype | type, shape: tuple[int, ...],
                   chunk_tokens: int, chunks: list[bytes]) -> bytes:
    """Concatenate encoded chunks behind a container header with chunk index and CRC32."""
    layers, _, tokens, heads, head_dim = shape
    head = _CONT.pack(CONTAINER_MAGIC, CONTAINER_VERSION, int(kind), int(level), dtype_code(dtype),
                      layers, tokens, heads, head_dim, chunk_tokens, len(chunks))
    offset = len(head) + _INDEX.size * len(chunks) + _CRC.size
    index = []
    for c in chunks:
        index.append(_INDEX.pack(offset, len(c), peek_chunk(c).tokens))
        offset += len(c)
    meta = head + b"".join(index)
    return b"".join([meta, _CRC.pack(zlib.crc32(meta)), *chunks])


def unpack_container(data: bytes | memoryview) -> tuple[ContainerHeader, list[memoryview]]:
    """Validate a container header and index; return it and the (not yet checked) chunk views.

    Each chunk carries its own CRC, checked when it is decoded.
    """
    mv = memoryview(data).cast("B")
    if len(mv) < 4:
        raise TruncatedError(len(mv), _CONT.size, "container header")
    magic = bytes(mv[:4])
    if magic != CONTAINER_MAGIC:
        raise BadMagicError(CONTAINER_MAGIC, magic, "container")
    if len(mv) < 5:
        raise TruncatedError(len(mv), _CONT.size, "container header")
    if mv[4] != CONTAINER_VERSION:
        raise UnsupportedVersionError(mv[4], CONTAINER_VERSION, "container")
    if len(mv) < _CONT.size:
        raise TruncatedError(len(mv), _CONT.size, "container header")
    _, version, kind, level, dt, layers, tokens, heads, head_dim, chunk_tokens, n = _CONT.unpack_from(mv)
    meta_end = _CONT.size + _INDEX.size * n
    if n > len(mv) // _INDEX.size:
        raise TruncatedError(len(mv), meta_end + _CRC.size, f"container chunk index ({n} chunks)")
    if len(mv) < meta_end + _CRC.size:
        raise TruncatedError(len(mv), meta_end + _CRC.size, f"container chunk index ({n} chunks)")
    (crc,) = _CRC.unpack_from(mv, meta_end)
    computed = zlib.crc32(mv[:meta_end])
    if computed != crc:
        raise ChecksumError(crc, computed, "container header")
    try:
        kind_e = Kind(kind)
    except ValueError:
        raise KVFormatError(f"unknown codec kind {kind} in kvstream container header") from None
    check_declared_size((layers, 2, tokens, heads, head_dim), len(mv), "container")
    index = tuple(_INDEX.unpack_from(mv, _CONT.size + i * _INDEX.size) for i in range(n))
    chunks = []
    for i, (off, length, _tok) in enumerate(index):
        if off + length > len(mv):
            raise TruncatedError(len(mv), off + length, f"container chunk {i}")
        chunks.append(mv[off: off + length])
    if sum(t for _, _, t in index) != tokens:
        raise KVFormatError(f"container index covers {sum(t for _, _, t in index)} tokens, header says {tokens}")
    hdr = ContainerHeader(kind_e, level, code_dtype(dt), layers, tokens, heads, head_dim, chunk_tokens, index, version)
    return hdr, chunks

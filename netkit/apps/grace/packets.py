"""Real GRACE packets: a frame's latent symbols spread over K independently decodable packets.

Element ``j`` of the flattened latent [C, h, w] goes to packet ``i`` when it stands at a
position ``p`` with ``p % K == i`` in a pseudo-random permutation of the N elements seeded by
the frame number (and N, K); the permutation is reversible, so the receiver scatters each
packet's symbols back. Each packet is entropy coded on its own with constriction's ANS coder
under the model's factorised Laplace prior; the prior depends only on the element's channel
and the frame's level, both derivable from the header, so any packet decodes alone. Elements
of packets that did not arrive stay zero (the prior's mode).

Key frames may be sent with two or three copies of every element: with ``copies=2`` packet ``i``
carries its own group ``i`` and the group ``(i + K // 2) % K`` as well (flag bit 6); with
``copies=3`` (K >= 3) the groups ``i``, ``(i + K // 3) % K`` and ``(i + 2K // 3) % K`` (flag bit 5),
so every group is in exactly three different packets. An element is lost only when every packet
that carries it is; every packet still decodes alone. Both ends derive which groups arrived from
the packet mask with ``group_mask``.

Wire format (big-endian), ``HEADER_BYTES`` of header and a 4-byte CRC-32 trailer::

    0  magic 'G' (0x47)
    1  flags: bit 7 key frame, bit 6 two copies (carries group (i + K//2) % K too),
       bit 5 three copies (groups (i + K//3) % K and (i + 2K//3) % K too), bits 0-3 level
    2  K (packets of this frame, 1..16)
    3  index of this packet (0..K-1)
    4  frame number (uint16, wraps)
    6  latent height h, 7 latent width w
    8  ANS payload (uint32 words)       ...  CRC-32 of everything before it
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import constriction
import numpy as np

from .errors import PacketCorrupt, PacketTruncated

__all__ = ["MAGIC", "HEADER_BYTES", "OVERHEAD_BYTES", "MAX_PACKETS", "COPY_CHOICES", "GracePacket", "PacketCodec",
           "element_order", "packet_groups", "group_mask", "effective_copies"]

MAGIC = 0x47
_HEADER = struct.Struct(">BBBBHBB")
HEADER_BYTES = _HEADER.size
#: Header plus CRC trailer: bytes every packet costs besides its payload.
OVERHEAD_BYTES = HEADER_BYTES + 4
MAX_PACKETS = 16
_PERM_SALT = 0x67726163  # "grac"


@lru_cache(maxsize=512)
def element_order(frame: int, n: int, k: int) -> tuple[np.ndarray, ...]:
    """For each of the ``k`` packets, the flat element indices it carries (frame-seeded)."""
    perm = np.random.Generator(np.random.PCG64([_PERM_SALT, frame & 0xFFFF, n, k])).permutation(n)
    return tuple(perm[i::k].copy() for i in range(k))


#: the element copies a packet may carry (1: none extra); with K smaller than this, fewer (see packet_groups)
COPY_CHOICES = (1, 2, 3)
_COPY_FLAGS = {1: 0, 2: 0x40, 3: 0x20}


def effective_copies(copies: int, k: int) -> int:
    """The copies actually sent with ``k`` packets: at most ``k`` (each copy in a different packet)."""
    return min(copies, k)


def packet_groups(index: int, k: int, copies: int) -> tuple[int, ...]:
    """The element groups packet ``index`` of ``k`` carries: its own, with ``copies=2`` (k >= 2)
    also group ``(index + k // 2) % k``, with ``copies=3`` (k >= 3) groups ``(index + k // 3) % k``
    and ``(index + 2k // 3) % k``: the offsets are distinct and nonzero mod k, so every group is
    carried by exactly ``copies`` different packets."""
    copies = effective_copies(copies, k)
    if copies == 3:
        return (index, (index + k // 3) % k, (index + 2 * k // 3) % k)
    return (index, (index + k // 2) % k) if copies == 2 else (index,)


def group_mask(mask: int, k: int, copies: int) -> int:
    """Bit mask of the element groups present when the packets in bit ``mask`` arrived
    (a group is present if any packet carrying it arrived)."""
    out = 0
    for i in range(k):
        if mask >> i & 1:
            for g in packet_groups(i, k, copies):
                out |= 1 << g
    return out


def _elements(frame: int, n: int, k: int, groups: tuple[int, ...]) -> np.ndarray:
    order = element_order(frame, n, k)
    return order[groups[0]] if len(groups) == 1 else np.concatenate([order[g] for g in groups])


@dataclass(frozen=True)
class GracePacket:
    """One parsed packet: header fields and the symbols of the elements it carries."""

    frame: int
    index: int
    count: int
    level: int
    key: bool
    shape: tuple[int, int, int]
    elements: np.ndarray   # flat indices into [C, h, w]
    symbols: np.ndarray    # int32, same length
    copies: int = 1        # 2 or 3: a key frame sent with every element in that many packets


class PacketCodec:
    """Packs symbols [C, h, w] into K packets and parses them back.

    ``scales`` [levels, C] are the model's prior scales (float64); both ends must hold the
    same table (it comes with the model file).
    """

    def __init__(self, scales: np.ndarray, max_symbol: int = 255) -> None:
        self.scales = np.ascontiguousarray(scales, dtype=np.float64)
        self.levels, self.channels = self.scales.shape
        if self.levels > 16:
            raise ValueError(f"at most 16 levels fit the header, model has {self.levels}")
        self.model = constriction.stream.model.QuantizedLaplace(-max_symbol, max_symbol)
        self.max_symbol = max_symbol

    def _elem_scales(self, level: int, elements: np.ndarray, hw: int) -> np.ndarray:
        return self.scales[level][elements // hw]

    def encode(self, symbols: np.ndarray, frame: int, level: int, key: bool, k: int,
               copies: int = 1) -> list[bytes]:
        """The ``k`` packets of one frame's symbols (int array [C, h, w]); ``copies=2`` or 3 puts every
        element in that many packets (the sender uses it for key frames; at most ``k``)."""
        c, h, w = symbols.shape
        if c != self.channels:
            raise ValueError(f"symbols have {c} channels, the model {self.channels}")
        if not 1 <= k <= MAX_PACKETS:
            raise ValueError(f"packets per frame must be 1..{MAX_PACKETS}, got {k}")
        if not 0 <= level < self.levels:
            raise ValueError(f"level {level} out of range 0..{self.levels - 1}")
        if copies not in COPY_CHOICES:
            raise ValueError(f"element copies must be 1, 2 or 3, got {copies}")
        copies = effective_copies(copies, k)
        flat = np.clip(symbols.reshape(-1), -self.max_symbol, self.max_symbol).astype(np.int32)
        out = []
        for i in range(k):
            elems = _elements(frame, flat.size, k, packet_groups(i, k, copies))
            coder = constriction.stream.stack.AnsCoder()
            if elems.size:
                coder.encode_reverse(flat[elems], self.model, np.zeros(elems.size),
                                     self._elem_scales(level, elems, h * w))
            payload = coder.get_compressed().astype(">u4").tobytes()
            head = _HEADER.pack(MAGIC, (0x80 if key else 0) | _COPY_FLAGS[copies] | level, k, i, frame & 0xFFFF, h, w)
            body = head + payload
            out.append(body + struct.pack(">I", zlib.crc32(body)))
        return out

    def parse(self, data: bytes) -> GracePacket:
        """Check and entropy-decode one packet; raises PacketTruncated / PacketCorrupt."""
        if len(data) < OVERHEAD_BYTES:
            raise PacketTruncated(f"grace packet of {len(data)} bytes is shorter than its {OVERHEAD_BYTES}-byte framing")
        body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
        if (len(body) - HEADER_BYTES) % 4:
            raise PacketTruncated(f"grace packet payload of {len(body) - HEADER_BYTES} bytes is not whole 32-bit words")
        if zlib.crc32(body) != crc:
            raise PacketCorrupt("grace packet checksum mismatch (corrupt or truncated)")
        magic, flags, k, i, frame, h, w = _HEADER.unpack_from(body)
        level = flags & 0x0F
        if magic != MAGIC or not 1 <= k <= MAX_PACKETS or i >= k or level >= self.levels or h * w == 0:
            raise PacketCorrupt(f"grace packet header invalid (magic {magic:#x}, K {k}, index {i}, level {level})")
        copies = 3 if flags & 0x20 else 2 if flags & 0x40 else 1
        if flags & 0x10 or flags & 0x60 == 0x60 or copies > k:
            raise PacketCorrupt(f"grace packet header invalid (flags {flags:#x}, K {k})")
        elems = _elements(frame, self.channels * h * w, k, packet_groups(i, k, copies))
        words = np.frombuffer(body[HEADER_BYTES:], dtype=">u4").astype(np.uint32)
        try:
            coder = constriction.stream.stack.AnsCoder(words)
            syms = (coder.decode(self.model, np.zeros(elems.size), self._elem_scales(level, elems, h * w))
                    if elems.size else np.zeros(0, np.int32))
        except Exception as exc:  # constriction reports a payload it cannot decode
            raise PacketCorrupt(f"grace packet payload does not decode: {exc}") from None
        return GracePacket(frame, i, k, level, bool(flags & 0x80), (self.channels, h, w), elems,
                           np.asarray(syms, dtype=np.int32), copies)

    @staticmethod
    def assemble(packets: list[GracePacket], shape: tuple[int, int, int]) -> np.ndarray:
        """Symbols [C, h, w] from the packets that arrived, zero where none did."""
        flat = np.zeros(int(np.prod(shape)), dtype=np.int32)
        for p in packets:
            flat[p.elements] = p.symbols
        return flat.reshape(shape)

    @staticmethod
    def arrival_keep(shape: tuple[int, ...], frame: int, k: int, mask: int) -> np.ndarray:
        """float32 array of ``shape``: 1 at the elements of groups in bit ``mask``, 0 elsewhere
        (what a mask-aware decoder is told; sender and receiver derive it alike). With key
        copies, pass ``group_mask(packet_mask, k, copies)``."""
        flat = np.zeros(int(np.prod(shape)), dtype=np.float32)
        for i, elems in enumerate(element_order(frame, flat.size, k)):
            if mask >> i & 1:
                flat[elems] = 1.0
        return flat.reshape(shape)

    @staticmethod
    def mask_symbols(symbols: np.ndarray, frame: int, k: int, mask: int) -> np.ndarray:
        """``symbols`` with the elements of groups not in bit ``mask`` zeroed (the receiver's view;
        with key copies pass ``group_mask(packet_mask, k, copies)``)."""
        flat = symbols.reshape(-1).copy()
        for i, elems in enumerate(element_order(frame, flat.size, k)):
            if not mask >> i & 1:
                flat[elems] = 0
        return flat.reshape(symbols.shape)

"""CacheGen-like lossy KV codec: per-token scaled uniform quantisation + ANS entropy coding.

One chunk ``kv[layers, 2, tokens, heads, head_dim]`` is coded as follows, for each
(layer, K/V) pair ``(l, w)`` with channels ``c = heads * head_dim``:

1. **Centre** every channel on its mean over the chunk's tokens. The mean is sent
   as an int8 in units of ``max|mean| / 127`` (one float32 unit per (l, w)); only
   the sent value is used, by both sides, so its coarseness costs bits, never error.
2. **Scale** every token by its largest centred magnitude over the channels,
   rounded *up* onto a log grid with 8 steps per octave (one byte per token,
   plus one int16 exponent per (l, w)). Measured against one scale per channel on
   MiniLM, per-token scales give the same bits and relative error but clearly better
   model output (docs/kvstream.md), so they are the default;
   ``scale_axis="channel"`` is kept for that ablation.
3. **Quantise** uniformly: step ``delta = 2 * scale / bins[l, w]``, symbol
   ``round((x - mean) / delta)`` in ``[-bins/2, bins/2]``. ``bins`` is set by the
   level and a per-layer profile (more bins for the layers that matter more) and is
   sent as a u16 per (l, w), so the decoder needs no knowledge of the profile.
4. **Entropy-code** each (l, w, channel) group with one of 64 fixed tables chosen
   by the encoder (one byte per group), see :mod:`.entropy`. A group whose symbols
   are all zero gets table byte 255 and no symbols at all.

Optionally (``basis=``, see :mod:`.basis`) each (l, w) block is first rotated onto
per-model principal axes, and steps 1-4 run on the rotated coefficients; the chunk
records the basis digest. This is not in CacheGen; it is what makes the codec reach
~4x below int8 at unchanged MiniLM output quality (docs/kvstream.md).

Error bound (what tests check): every decoded element satisfies
``|x - x_hat| <= delta / 2`` for its (layer, K/V, token), where
``delta = 2 * scale / bins`` and ``scale <= 2^(1/8) * max_c |x - mean|``.
With a basis the bound holds for the coefficients, so an element of x is off by at
most ``sum_c |rot[i, c]| * delta / 2`` (and each token's L2 error by at most
``sqrt(C) * delta / 2``), plus float32 rounding of the rotation.
For float16 output, add the float16 rounding of ``x_hat`` (half an ulp).
:meth:`CacheGenCodec.error_bound` returns the exact per-element bound of a chunk.

Delta coding of a token against an anchor or the previous token (CacheGen's
"token-wise locality") was measured on MiniLM and the tiny model and *raised*
the bit rate by about 11 %, so it is not part of the format.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .basis import KVBasis, single_thread_blas
from .container import ChunkHeader, Kind, pack_chunk, unpack_chunk
from .entropy import ZERO_TABLE, ANSReader, ANSWriter, select_tables, table_runs
from .errors import KVFormatError, TruncatedError

__all__ = ["LEVEL_BINS", "MAX_BINS", "PROFILES", "CacheGenCodec", "CacheGenSideInfo", "layer_bins", "side_info_bytes"]

#: Nominal number of quantisation bins per level, from high quality (0) to small (4).
LEVEL_BINS: tuple[int, ...] = (64, 32, 20, 12, 8)
#: Largest number of bins of any (layer, K/V): keeps the alphabet at most 257 symbols.
MAX_BINS = 256
#: Named per-layer bin profiles; a profile multiplies the level's bins per (layer, K/V).
PROFILES = ("early", "flat", "late")

_FLAG_CHANNEL_SCALES = 1
_FLAG_BASIS = 2
_SCALE_STEPS_PER_OCTAVE = 8
_HEAD = struct.Struct("<BBH")  # flags, reserved, layers*2 (sanity)


def _profile_multipliers(profile: str | np.ndarray | Sequence[Sequence[float]], layers: int) -> np.ndarray:
    if isinstance(profile, str):
        depth = np.linspace(0.0, 1.0, layers) if layers > 1 else np.zeros(1)
        if profile == "early":  # CacheGen: early layers get more bins (2^0.5 x first .. 2^-0.5 x last)
            m = 2.0 ** (0.5 - depth)
        elif profile == "late":
            m = 2.0 ** (depth - 0.5)
        elif profile == "flat":
            m = np.ones(layers)
        else:
            raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES} or a [layers, 2] array")
        return np.repeat(m[:, None], 2, axis=1)
    m = np.asarray(profile, dtype=np.float64)
    if m.shape != (layers, 2) or not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError(f"profile array must be positive with shape ({layers}, 2), got {m.shape}")
    return m


def layer_bins(level: int, layers: int, profile: str | np.ndarray = "early") -> np.ndarray:
    """Bins per (layer, K/V) for a level and profile: even integers in ``[2, MAX_BINS]``, shape [layers, 2]."""
    if not 0 <= level < len(LEVEL_BINS):
        raise ValueError(f"level {level} out of range 0..{len(LEVEL_BINS) - 1}")
    b = LEVEL_BINS[level] * _profile_multipliers(profile, layers)
    return np.clip(2 * np.rint(b / 2), 2, MAX_BINS).astype(np.int64)


@dataclass
class CacheGenSideInfo:
    """Everything in a CacheGen payload besides the entropy-coded words (all counted in the size)."""

    channel_scales: bool
    bins: np.ndarray  # [L, 2] u16
    exponent: np.ndarray  # [L, 2] i16: scale grid top is 2^exponent
    scale_codes: np.ndarray  # [L, 2, T or C] u8
    mean_unit: np.ndarray  # [L, 2] f32
    mean_codes: np.ndarray  # [L, 2, C] i8
    tables: np.ndarray  # [L, 2, C] u8 (ZERO_TABLE: group is all zero, not coded)
    basis_digest: bytes | None = None  # 8 bytes when coded in a KVBasis

    def scales(self) -> np.ndarray:
        """Decoded per-token (or per-channel) scales ``[L, 2, T or C]`` (float32)."""
        return _scales(self.exponent, self.scale_codes)

    def steps(self) -> np.ndarray:
        """Quantisation step per (l, w, t) or (l, w, c), float32."""
        return 2.0 * self.scales() / self.bins[..., None].astype(np.float32)

    def means(self) -> np.ndarray:
        """Decoded channel centres ``[L, 2, C]`` (float32)."""
        return self.mean_codes.astype(np.float32) * self.mean_unit[..., None]

    def pack(self) -> bytes:
        """Serialise in payload order."""
        layers2 = self.bins.size
        flags = (_FLAG_CHANNEL_SCALES if self.channel_scales else 0) | (_FLAG_BASIS if self.basis_digest else 0)
        return b"".join((
            _HEAD.pack(flags, 0, layers2), self.basis_digest or b"",
            self.bins.astype("<u2").tobytes(), self.exponent.astype("<i2").tobytes(),
            self.mean_unit.astype("<f4").tobytes(), self.scale_codes.astype(np.uint8).tobytes(),
            self.mean_codes.astype(np.int8).tobytes(), self.tables.astype(np.uint8).tobytes(),
        ))

    @classmethod
    def unpack(cls, buf: memoryview, layers: int, tokens: int, channels: int) -> tuple["CacheGenSideInfo", int]:
        """Parse from the start of ``buf``; return the side info and the bytes it used."""
        if len(buf) < _HEAD.size:
            raise TruncatedError(len(buf), _HEAD.size, "cachegen side info")
        flags, _, layers2 = _HEAD.unpack_from(buf)
        if layers2 != 2 * layers:
            raise KVFormatError(f"cachegen side info is for {layers2 // 2} layers, header says {layers}")
        if flags & ~(_FLAG_CHANNEL_SCALES | _FLAG_BASIS):
            raise KVFormatError(f"unknown cachegen flags {flags:#04x}")
        channel_scales = bool(flags & _FLAG_CHANNEL_SCALES)
        n_digest = 8 if flags & _FLAG_BASIS else 0
        n_scale = channels if channel_scales else tokens
        sizes = [2 * layers2, 2 * layers2, 4 * layers2, layers2 * n_scale, layers2 * channels, layers2 * channels]
        need = _HEAD.size + n_digest + sum(sizes)
        if len(buf) < need:
            raise TruncatedError(len(buf), need, "cachegen side info")
        digest = bytes(buf[_HEAD.size: _HEAD.size + n_digest]) or None
        pos = _HEAD.size + n_digest
        arrays = []
        for size, dt in zip(sizes, ("<u2", "<i2", "<f4", "u1", "i1", "u1")):
            arrays.append(np.frombuffer(buf[pos: pos + size], dtype=dt))
            pos += size
        bins, expo, unit, scodes, mcodes, tables = arrays
        if np.any(bins < 2) or np.any(bins > MAX_BINS) or np.any(bins % 2):
            raise KVFormatError(f"cachegen bins out of range: {bins.tolist()}")
        side = cls(channel_scales, bins.reshape(layers, 2).astype(np.int64), expo.reshape(layers, 2),
                   scodes.reshape(layers, 2, n_scale), unit.reshape(layers, 2), mcodes.reshape(layers, 2, channels),
                   tables.reshape(layers, 2, channels), digest)
        return side, pos


class CacheGenCodec:
    """The CacheGen-like codec at one compression level (see module docstring).

    ``level`` 0..4 from high quality to small. ``profile`` sets bins per layer:
    ``"early"`` (default; CacheGen's finding on decoder LLMs: more bins for early
    layers), ``"flat"``, ``"late"``, or a ``[layers, 2]`` array of multipliers such as
    :func:`netkit.apps.kvstream.calibrate.calibrate_profile` returns. ``basis``
    (optional) codes in a per-model rotated channel space; the decoder must be given
    the same basis.
    """

    kind = Kind.CACHEGEN

    def __init__(self, level: int = 1, profile: str | np.ndarray = "early", scale_axis: str = "token",
                 basis: KVBasis | None = None) -> None:
        if not 0 <= level < len(LEVEL_BINS):
            raise ValueError(f"level {level} out of range 0..{len(LEVEL_BINS) - 1}")
        if scale_axis not in ("token", "channel"):
            raise ValueError("scale_axis must be 'token' or 'channel'")
        if not isinstance(profile, str):
            profile = np.asarray(profile, dtype=np.float64)
        self.level = level
        self.profile = profile
        self.scale_axis = scale_axis
        self.basis = basis
        self.name = f"kvstream-klt-L{level}" if basis is not None else f"kvstream-L{level}"

    def __repr__(self) -> str:
        prof = self.profile if isinstance(self.profile, str) else "custom"
        basis = f", basis={self.basis.digest.hex()}" if self.basis is not None else ""
        return f"CacheGenCodec(level={self.level}, profile={prof!r}, scale_axis={self.scale_axis!r}{basis})"

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, kv: np.ndarray, token_start: int = 0) -> bytes:
        """Encode one chunk ``[layers, 2, tokens, heads, head_dim]`` (float16/float32) to a chunk blob."""
        kv = np.asarray(kv)
        if kv.ndim != 5 or kv.shape[1] != 2:
            raise ValueError(f"KV must be [layers, 2, tokens, heads, head_dim], got shape {kv.shape}")
        if kv.dtype not in (np.float16, np.float32):
            raise ValueError(f"KV dtype must be float16 or float32, got {kv.dtype}")
        layers, _, tokens, heads, head_dim = kv.shape
        ch = heads * head_dim
        if tokens == 0 or ch == 0:
            raise ValueError(f"empty KV chunk {kv.shape}")
        if self.basis is not None:
            self.basis.check(layers, ch)
        channel = self.scale_axis == "channel"
        bins = layer_bins(self.level, layers, self.profile)
        n_scale = ch if channel else tokens
        side = CacheGenSideInfo(
            channel, bins, np.zeros((layers, 2), np.int16), np.zeros((layers, 2, n_scale), np.uint8),
            np.zeros((layers, 2), np.float32), np.zeros((layers, 2, ch), np.int8), np.zeros((layers, 2, ch), np.uint8),
            self.basis.digest if self.basis is not None else None)
        writer = ANSWriter()
        with single_thread_blas() if self.basis is not None else contextlib.nullcontext():
            self._encode_blocks(kv, side, writer, bins, channel)
        payload = side.pack() + writer.finish().astype("<u4").tobytes()
        return pack_chunk(self.kind, self.level, kv.dtype, kv.shape, payload, token_start)

    def _encode_blocks(self, kv: np.ndarray, side: "CacheGenSideInfo", writer: ANSWriter, bins: np.ndarray,
                       channel: bool) -> None:
        layers, _, tokens, heads, head_dim = kv.shape
        ch = heads * head_dim
        for li in range(layers):
            for w in range(2):
                if not np.all(np.isfinite(kv[li, w])):
                    raise ValueError("KV contains NaN or infinity")
                if self.basis is not None:
                    x = self.basis.forward(kv[li, w], li, w)
                else:
                    x = kv[li, w].reshape(tokens, ch).astype(np.float32)  # a copy, worked on in place
                mean = x.mean(axis=0)
                unit = np.float32(np.abs(mean).max() / 127.0)
                codes = np.clip(np.rint(mean / unit), -127, 127).astype(np.int8) if unit > 0 else side.mean_codes[li, w]
                side.mean_unit[li, w], side.mean_codes[li, w] = unit, codes
                x -= codes.astype(np.float32) * unit
                axis = 0 if channel else 1
                mag = np.maximum(x.max(axis=axis), -x.min(axis=axis))
                side.exponent[li, w], side.scale_codes[li, w] = _scale_codes(mag)
                m = int(bins[li, w]) // 2
                step = 2.0 * _scales(side.exponent[li, w], side.scale_codes[li, w]) / np.float32(2 * m)
                x *= (1.0 / step)[None, :] if channel else (1.0 / step)[:, None]
                np.rint(x, out=x)
                # |x| / step exceeds m only by float rounding; clipping there moves x_hat by < 1 ulp
                np.clip(x, -m, m, out=x)
                sumsq = np.einsum("tc,tc->c", x, x)
                tables = np.where(sumsq > 0, select_tables(sumsq, tokens, m), ZERO_TABLE).astype(np.uint8)
                side.tables[li, w] = tables
                order, uniq, counts = table_runs(tables)
                sym = (x.T[order] + m).astype(np.int32)  # [C, T], channels grouped by table
                pos = 0
                for j, n in zip(uniq, counts):
                    if j != ZERO_TABLE:
                        writer.add(sym[pos: pos + n], m, j)
                    pos += n

    # -- decoding -----------------------------------------------------------------------------
    @staticmethod
    def parse(data: bytes | memoryview) -> tuple[ChunkHeader, CacheGenSideInfo, np.ndarray]:
        """Validate a chunk and split it into header, side info and ANS words."""
        hdr, payload = unpack_chunk(data)
        if hdr.kind != Kind.CACHEGEN:
            raise KVFormatError(f"chunk is {hdr.kind.name}, not CACHEGEN")
        side, used = CacheGenSideInfo.unpack(payload, hdr.layers, hdr.tokens, hdr.heads * hdr.head_dim)
        rest = payload[used:]
        if len(rest) % 4:
            raise KVFormatError(f"cachegen entropy stream of {len(rest)} bytes is not whole 32-bit words")
        return hdr, side, np.frombuffer(rest, dtype="<u4")

    @staticmethod
    def _check_basis(side: CacheGenSideInfo, basis: KVBasis | None, layers: int, ch: int) -> KVBasis | None:
        if side.basis_digest is None:
            return None
        if basis is None:
            raise KVFormatError(f"chunk was coded in basis {side.basis_digest.hex()}; decode it with that basis")
        if basis.digest != side.basis_digest:
            raise KVFormatError(f"basis mismatch: chunk needs {side.basis_digest.hex()}, got {basis.digest.hex()}")
        basis.check(layers, ch)
        return basis

    @staticmethod
    def decode(data: bytes | memoryview, out: np.ndarray | None = None, basis: KVBasis | None = None) -> np.ndarray:
        """Decode a CacheGen chunk blob to ``[layers, 2, tokens, heads, head_dim]`` in its original dtype.

        ``out``, if given, receives the result (any array of that shape whose last two
        axes are contiguous, e.g. a token slice of a larger KV) and is returned.
        ``basis`` is required for chunks coded with one.
        """
        hdr, side, words = CacheGenCodec.parse(data)
        layers, tokens, ch = hdr.layers, hdr.tokens, hdr.heads * hdr.head_dim
        basis = CacheGenCodec._check_basis(side, basis, layers, ch)
        if out is None:
            out = np.empty(hdr.shape, dtype=hdr.dtype)
        elif out.shape != hdr.shape:
            raise ValueError(f"out has shape {out.shape}, chunk decodes to {hdr.shape}")
        flat = out.reshape(layers, 2, tokens, ch)
        if not np.may_share_memory(flat, out):
            raise ValueError("out must have contiguous (heads, head_dim) axes")
        steps = side.steps()
        means = side.means()
        try:
            with single_thread_blas() if basis is not None else contextlib.nullcontext():
                CacheGenCodec._decode_blocks(side, ANSReader(words), flat, steps, means, basis, tokens)
        except (ValueError, AssertionError, RuntimeError) as e:  # constriction rejects invalid data
            raise KVFormatError(f"cachegen entropy stream is corrupt: {e}") from None
        return out

    @staticmethod
    def _decode_blocks(side: "CacheGenSideInfo", reader: ANSReader, flat: np.ndarray, steps: np.ndarray,
                       means: np.ndarray, basis: KVBasis | None, tokens: int) -> None:
        layers = flat.shape[0]
        for li in range(layers):
            for w in range(2):
                m = int(side.bins[li, w]) // 2
                order, uniq, counts = table_runs(side.tables[li, w])
                coded = [(j, n) for j, n in zip(uniq, counts) if j != ZERO_TABLE]
                n_coded = sum(n for _, n in coded)
                idx, rest = order[:n_coded], order[n_coded:]  # ZERO_TABLE (255) sorts last
                parts = [reader.read(m, j, n * tokens) for j, n in coded]
                sym = (np.concatenate(parts) if parts else np.zeros(0, np.int32)).reshape(n_coded, tokens)
                sym -= m
                step = steps[li, w][idx][:, None] if side.channel_scales else steps[li, w][None, :]
                vals = np.multiply(sym, step, dtype=np.float32)
                vals += means[li, w][idx][:, None]
                if basis is None:
                    blk = flat[li, w]
                    if len(rest):
                        blk[:, rest] = means[li, w][rest]
                    blk.T[idx] = vals  # channels back to their places, cast to the output dtype
                else:
                    rot = basis.rot[li, w]
                    const = basis.mean[li, w] + rot[:, rest] @ means[li, w][rest]
                    flat[li, w] = (rot[:, idx] @ vals).T + const

    @staticmethod
    def error_bound(data: bytes | memoryview, basis: KVBasis | None = None) -> np.ndarray:
        """Largest possible ``|x - x_hat|`` per element, broadcastable to ``[L, 2, T, H, D]``.

        Half the quantisation step of the element's (layer, K/V, token) (or channel);
        with a basis, mapped through the rotation. Float rounding of the output dtype
        (and of the rotation) comes on top.
        """
        hdr, side, _ = CacheGenCodec.parse(data)
        basis = CacheGenCodec._check_basis(side, basis, hdr.layers, hdr.heads * hdr.head_dim)
        half = side.steps().astype(np.float64) / 2
        shape = (hdr.layers, 2, 1, hdr.heads, hdr.head_dim) if side.channel_scales else (hdr.layers, 2, hdr.tokens, 1, 1)
        if basis is None:
            return half.reshape(shape)
        absrot = np.abs(basis.rot.astype(np.float64))  # [L, 2, C, C]
        if side.channel_scales:
            return np.einsum("lwic,lwc->lwi", absrot, half).reshape(shape)
        return (absrot.sum(axis=3).max(axis=2)[..., None] * half).reshape(shape)


# 2^(i/8) as literals, so every platform decodes the same scales (ldexp below is exact)
_ROOTS = np.array([1.0, 1.0905077326652577, 1.189207115002721, 1.2968395546510096, 1.4142135623730951,
                   1.5422108254079407, 1.681792830507429, 1.8340080864093424], dtype=np.float32)


def _scales(exponent: np.ndarray | np.integer, codes: np.ndarray) -> np.ndarray:
    """Scale values of scale codes: ``2^(exponent + (code - 255) / 8)`` (float32)."""
    total = _SCALE_STEPS_PER_OCTAVE * np.asarray(exponent, dtype=np.int64)[..., None] + codes.astype(np.int64) - 255
    octave, frac = np.divmod(total, _SCALE_STEPS_PER_OCTAVE)
    return np.ldexp(_ROOTS[frac], octave.astype(np.int32))


def _scale_codes(mag: np.ndarray) -> tuple[int, np.ndarray]:
    """Exponent and codes whose scales are the smallest grid values >= ``mag`` (never below it)."""
    top = float(mag.max()) if mag.size else 0.0
    # floor at 2^-64: smaller blocks are coded as if that large, so 1/step stays finite in float32
    expo = max(int(np.ceil(np.log2(top))) if top > 0 else 0, -64)
    while 2.0**expo < top:
        expo += 1
    with np.errstate(divide="ignore"):
        ratio = np.log2(np.where(mag > 0, mag, 1e-30).astype(np.float64)) - expo
    codes = np.clip(np.ceil(_SCALE_STEPS_PER_OCTAVE * ratio) + 255, 0, 255).astype(np.int64)
    low = (_scales(np.int16(expo), codes) < mag) & (codes < 255)
    while np.any(low):  # float rounding of exp2 must never leave a scale below its magnitude
        codes = np.where(low, codes + 1, codes)
        low = (_scales(np.int16(expo), codes) < mag) & (codes < 255)
    return expo, codes.astype(np.uint8)


def side_info_bytes(data: bytes | memoryview) -> int:
    """Bytes of a CacheGen chunk that are not entropy-coded symbols (headers + side info)."""
    _, _, words = CacheGenCodec.parse(data)
    return len(data) - words.nbytes


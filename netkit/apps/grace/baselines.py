"""Classic real-time video baselines with PyAV: H.264 (libx264 zerolatency) and VP8 (libvpx
realtime), optionally with Reed-Solomon FEC (zfec) per frame, and an error-concealment mode.

Sans-I/O like the GRACE session: ``ClassicSender.encode(image, now) -> packets``,
``ClassicReceiver.receive_packet(data, now) -> decoded frames``, ``handle_timer``,
``feedback_to_send() -> PLI``; the sender takes PLIs with ``receive_feedback``.

* Strict mode (``h264``, ``h264_fec20``, ``vp8_fec20``...): a frame is decodable when all its
  data packets arrive, or with FEC any ``k`` of its ``k + r`` packets; and when every frame it
  depends on was decodable (P frames reference the previous frame, no B frames). After a loss
  nothing renders until the next key frame, which the receiver requests with a PLI (sent on
  every undecodable frame; the sender answers each break once).
* Concealment mode (``concealment``): H.264 with one slice per packet (as many as the frame has
  macroblock rows allow); the receiver hands FFmpeg whatever slices arrived, FFmpeg conceals the
  missing macroblocks from the previous frame, and decoding goes on over the damaged reference;
  a PLI still asks for a key frame.

Packet format: magic 'V', flags (bit 7 key), k, n = k + r, index, frame (uint16), frame length
(uint16), payload, CRC-32: ``OVERHEAD_BYTES`` per packet, within one byte of GRACE's.
"""
from __future__ import annotations

import fractions
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import PacketCorrupt, PacketError, PacketTruncated
from .session import DecodedFrame, _unwrap

__all__ = ["ClassicSender", "ClassicReceiver", "OVERHEAD_BYTES", "split_nals"]

_HDR = struct.Struct(">BBBBBHH")
OVERHEAD_BYTES = _HDR.size + 4
_PLI = struct.Struct(">BH")

_ENCODERS = {"h264": "libx264", "vp8": "libvpx"}
_DECODERS = {"h264": "h264", "vp8": "vp8"}


def split_nals(data: bytes) -> list[bytes]:
    """Annex-B H.264 access unit -> NAL units (each with its start code)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        s = i - 1 if i > 0 and data[i - 1] == 0 else i
        starts.append(s)
        i = data.find(b"\x00\x00\x01", i + 3)
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def _slice_groups(data: bytes, k: int) -> list[bytes]:
    """One packet per slice NAL (parameter sets ride with the next slice), at most ``k``."""
    groups, pending = [], b""
    for nal in split_nals(data):
        head = nal[3] if nal[2] == 1 else nal[4]
        pending += nal
        if head & 0x1F in (1, 5):  # coded slice
            groups.append(pending)
            pending = b""
    if pending:
        groups.append(pending) if not groups else groups.__setitem__(-1, groups[-1] + pending)
    while len(groups) > k:  # merge the smallest neighbours
        j = min(range(len(groups) - 1), key=lambda a: len(groups[a]) + len(groups[a + 1]))
        groups[j:j + 2] = [groups[j] + groups[j + 1]]
    return groups


class ClassicSender:
    """Encodes frames with libx264/libvpx and packetises them, with optional FEC."""

    def __init__(self, codec: str, width: int, height: int, fps: float, kbps: float, packets: int = 10,
                 fec: float = 0.0, slices: bool = False) -> None:
        import av

        if codec not in _ENCODERS:
            raise ValueError(f"unknown classic codec {codec!r} (h264, vp8)")
        self.av, self.codec, self.k, self.slices = av, codec, packets, slices
        self.parity = int(round(fec * packets))
        ctx = av.CodecContext.create(_ENCODERS[codec], "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = fractions.Fraction(1, round(fps))
        ctx.framerate = fractions.Fraction(round(fps))
        ctx.bit_rate = int(kbps * 1000)
        ctx.gop_size = 1 << 20
        ctx.thread_count = 1  # one core, like the neural codec; also keeps runs bit-reproducible
        kb = max(1, int(kbps))
        if codec == "h264":
            params = (f"scenecut=0:bframes=0:ref=1:keyint=infinite:vbv-maxrate={kb}:vbv-bufsize={max(1, kb // 2)}"
                      + (f":slices={packets}" if slices else ""))
            ctx.options = {"tune": "zerolatency", "preset": "veryfast", "x264-params": params}
        else:
            ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0",
                           "minrate": f"{kb}k", "maxrate": f"{kb}k"}
        self.ctx = ctx
        self.frame = 0
        self._pli = False
        self._last_key = -1
        self.keyframes = 0

    def encode(self, image: np.ndarray, now: float = 0.0) -> list[bytes]:
        """Packets of the next frame."""
        av = self.av
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format="yuv420p")
        vf.pts = self.frame
        if self._pli:
            vf.pict_type = av.video.frame.PictureType.I
            self._pli = False
        pkts = self.ctx.encode(vf)
        data = b"".join(bytes(p) for p in pkts)
        key = any(p.is_keyframe for p in pkts)
        f = self.frame
        self.frame += 1
        if key:
            self._last_key = f
            self.keyframes += 1
        return self._packetise(data, f, key)

    def _packetise(self, data: bytes, f: int, key: bool) -> list[bytes]:
        if len(data) > 0xFFFF:
            raise ValueError(f"frame {f} of {len(data)} bytes is too large for the baseline packet format")
        if self.slices and self.codec == "h264":
            chunks = _slice_groups(data, self.k)
        else:
            size = -(-max(len(data), 1) // self.k)
            chunks = [data[i * size:(i + 1) * size].ljust(size, b"\0") for i in range(self.k)]
            if self.parity:
                import zfec

                chunks += zfec.Encoder(self.k, self.k + self.parity).encode(chunks, list(range(self.k, self.k + self.parity)))
        k = len(chunks) - self.parity
        out = []
        for i, c in enumerate(chunks):
            body = _HDR.pack(0x56, 0x80 if key else 0, k, len(chunks), i, f & 0xFFFF, len(data)) + c
            out.append(body + struct.pack(">I", zlib.crc32(body)))
        return out

    def receive_feedback(self, data: bytes, now: float = 0.0) -> None:
        """A PLI for frame f forces a key frame unless one was sent after f."""
        if len(data) != _PLI.size + 4 or zlib.crc32(data[:-4]) != struct.unpack(">I", data[-4:])[0]:
            raise PacketCorrupt("baseline feedback corrupt")
        _, f16 = _PLI.unpack_from(data)
        if _unwrap(f16, self.frame - 1) >= self._last_key:
            self._pli = True


@dataclass
class _Parsed:
    key: bool
    k: int
    n: int
    index: int
    frame: int
    length: int
    chunk: bytes


def _parse(data: bytes) -> _Parsed:
    if len(data) < OVERHEAD_BYTES:
        raise PacketTruncated(f"baseline packet of {len(data)} bytes is too short")
    body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
    if zlib.crc32(body) != crc:
        raise PacketCorrupt("baseline packet checksum mismatch")
    magic, flags, k, n, i, f, length = _HDR.unpack_from(body)
    if magic != 0x56 or i >= n or k > n:
        raise PacketCorrupt("baseline packet header invalid")
    return _Parsed(bool(flags & 0x80), k, n, i, f, length, body[_HDR.size:])


class ClassicReceiver:
    """Reassembles (FEC-decodes) and decodes classic video frames in order; sends PLIs."""

    def __init__(self, codec: str, conceal: bool = False, wait_ms: float = 40.0,
                 last_packet_completes: bool = False) -> None:
        import av

        #: resolve a frame as soon as its last packet (parity included) arrives: on a FIFO path nothing follows
        self.last_packet_completes = last_packet_completes
        self.av = av
        self.conceal = conceal
        self.dec = av.CodecContext.create(_DECODERS[codec], "r")
        self.dec.thread_count = 1
        self.wait_ms = wait_ms
        self.next = 0
        self.chain_ok = False   # no key frame yet
        self._pending: dict[int, list[_Parsed]] = {}
        self._first_arrival: dict[int, float] = {}
        self._pli: int | None = None
        self.rejected = 0

    def receive_packet(self, data: bytes, now: float) -> list[DecodedFrame]:
        """Take one packet; return frames this lets the receiver render."""
        try:
            p = _parse(data)
        except PacketError:
            self.rejected += 1
            return []
        f = _unwrap(p.frame, self.next)
        if f < self.next:
            return []
        out = self._resolve_until(f, now)
        got = self._pending.setdefault(f, [])
        if all(q.index != p.index for q in got):
            got.append(p)
        self._first_arrival.setdefault(f, now)
        last = self.last_packet_completes and p.index == p.n - 1
        if (len(got) >= (p.n if self.conceal else p.k) or last) and f == self.next:
            out += self._resolve_until(f + 1, now)
        return out

    def next_timer(self) -> float | None:
        """When the oldest incomplete frame gives up waiting."""
        return self._first_arrival[self.next] + self.wait_ms if self.next in self._first_arrival else None

    def handle_timer(self, now: float) -> list[DecodedFrame]:
        """Resolve the waiting frame if its wait is over."""
        t = self.next_timer()
        return self._resolve_until(self.next + 1, now) if t is not None and now >= t else []

    def flush(self, now: float) -> list[DecodedFrame]:
        """Resolve the waiting frame now from whatever arrived (the stream's end: nothing will follow it)."""
        return self._resolve_until(self.next + 1, now) if self.next in self._first_arrival else []

    def feedback_to_send(self) -> bytes | None:
        """A PLI after an undecodable frame (None otherwise)."""
        if self._pli is None:
            return None
        body = _PLI.pack(0x50, self._pli & 0xFFFF)
        self._pli = None
        return body + struct.pack(">I", zlib.crc32(body))

    def _frame_bytes(self, pkts: list[_Parsed]) -> bytes | None:
        p0 = pkts[0]
        if self.conceal:
            return b"".join(q.chunk for q in sorted(pkts, key=lambda q: q.index))
        data = sorted((q for q in pkts), key=lambda q: q.index)
        if sum(q.index < p0.k for q in data) == p0.k:
            blocks = [q.chunk for q in data if q.index < p0.k]
        elif len(data) >= p0.k:
            import zfec

            use = data[:p0.k]
            blocks = zfec.Decoder(p0.k, p0.n).decode([q.chunk for q in use], [q.index for q in use])
        else:
            return None
        return b"".join(blocks)[:p0.length]

    def _decode(self, data: bytes) -> np.ndarray | None:
        try:
            frames = self.dec.decode(self.av.Packet(data))
        except self.av.error.FFmpegError:
            return None
        return frames[-1].to_ndarray(format="rgb24") if frames else None

    def _resolve_until(self, stop: int, now: float) -> list[DecodedFrame]:
        out = []
        while self.next < stop:
            f = self.next
            pkts = self._pending.pop(f, [])
            self._first_arrival.pop(f, None)
            self.next += 1
            data = self._frame_bytes(pkts) if pkts else None
            complete = bool(pkts) and len(pkts) == pkts[0].n
            key = bool(pkts) and pkts[0].key
            img = None
            if data is not None and (key or self.chain_ok or self.conceal):
                img = self._decode(data)
            if self.conceal:
                if not complete or img is None:
                    self._pli = f
                if img is not None:
                    self.chain_ok = True
            else:
                self.chain_ok = img is not None
                if img is None:
                    self._pli = f
            if img is not None:
                out.append(DecodedFrame(f, img, sum(1 << q.index for q in pkts), len(pkts), now))
        return out

"""Sans-I/O GRACE sender and receiver with feedback-driven resync.

Neither object touches a socket or a clock: they are handed frames, packets, feedback and the
time (ms), and return packets, feedback and decoded frames.

Receiver. Frames are decoded in order. Frame f is decoded when all its K packets are in, when
a packet of a later frame arrives (loss is then assumed), optionally when its last packet
arrives (``last_packet_completes``: on a FIFO path nothing of it can follow), or at its timer
(first packet + the wait); missing elements are zero. A frame of which nothing arrived is decoded as a zero
latent against the previous state, whatever its type (the receiver cannot know it). Each
decoded frame's arrival mask (bit i: packet i was used) goes into the next feedback message,
which repeats the masks of the last ``FEEDBACK_REPEAT`` frames so a lost feedback costs nothing.

Sender. It keeps what it sent for every frame whose mask it has not yet heard. For the
receiver's state it keeps (a) the exact state after the last frame whose mask and all earlier
masks are known and (b) estimates for later frames, decoded from what it sent assuming full
arrival. Each new frame is coded against the estimate of the previous frame. When a mask
that is not full arrives, the estimates from that frame on are decoded again with the real
mask, so from then on the sender predicts from exactly the receiver's state: drift lasts at
most one feedback delay. Key frames: the first, on a PLI, and optionally every
``keyframe_interval`` frames.

In-flight samples (``in_flight_samples=N > 0``): the receiver's state after a frame whose mask
is not back yet is a random variable, and full arrival is its best case, not its mean. The sender
then estimates it as the mean of N decodes (one batch) with packet masks drawn, seeded by the
frame number, at the loss rate of the last 16 masks it heard; the mean minimises the expected
squared difference between the reference a frame is coded against and the receiver's real one.
Only the coding reference changes: exact states are always decoded again from the real masks
(every arriving mask invalidates the guesses after it), so both ends stay bit-identical after
feedback. With no loss heard yet the estimate is full arrival, as with N = 0.
"""
from __future__ import annotations

import struct
import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from .errors import PacketCorrupt, PacketError, PacketTruncated
from .packets import COPY_CHOICES, GracePacket, PacketCodec, group_mask

__all__ = ["GraceSender", "GraceReceiver", "DecodedFrame", "encode_feedback", "decode_feedback",
           "FEEDBACK_REPEAT"]

FEEDBACK_REPEAT = 8
LOSS_WINDOW = 16  # in-flight samples: the loss rate is the one of the last this many frames' masks
_FB = struct.Struct(">BBB")
_FB_ENTRY = struct.Struct(">HH")


def encode_feedback(entries: list[tuple[int, int]], pli: bool) -> bytes:
    """Feedback message: 'F', flags (bit 0 PLI), count, (frame uint16, mask uint16)..., CRC-32."""
    body = _FB.pack(0x46, int(pli), len(entries)) + b"".join(_FB_ENTRY.pack(f & 0xFFFF, m) for f, m in entries)
    return body + struct.pack(">I", zlib.crc32(body))


def decode_feedback(data: bytes) -> tuple[list[tuple[int, int]], bool]:
    """(entries, pli) from a feedback message; raises PacketTruncated / PacketCorrupt."""
    if len(data) < _FB.size + 4:
        raise PacketTruncated(f"grace feedback of {len(data)} bytes is too short")
    body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
    if zlib.crc32(body) != crc:
        raise PacketCorrupt("grace feedback checksum mismatch")
    magic, flags, n = _FB.unpack_from(body)
    if magic != 0x46 or len(body) != _FB.size + n * _FB_ENTRY.size:
        raise PacketCorrupt("grace feedback header invalid")
    entries = [_FB_ENTRY.unpack_from(body, _FB.size + j * _FB_ENTRY.size) for j in range(n)]
    return entries, bool(flags & 1)


def _unwrap(frame16: int, near: int) -> int:
    """The full frame number closest to ``near`` whose low 16 bits are ``frame16``."""
    return near + ((frame16 - near + 0x8000) & 0xFFFF) - 0x8000


class _Decoder:
    """The decode step both ends share, so both compute bit-identical states."""

    def __init__(self, model, height: int, width: int) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.grey = torch.full((1, 3, height, width), 0.5)

    def image_to_tensor(self, img: np.ndarray):
        """uint8 [H, W, 3] -> float [1, 3, H, W]."""
        return self.torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))[None].astype(np.float32) / 255.0)

    def decode(self, symbols: np.ndarray | None, level: int, key: bool, prev, keep: np.ndarray | None = None):
        """(state tensor, uint8 image): ``symbols`` None means nothing arrived; ``keep`` is the
        elements' arrival mask (None: all arrived), for a mask-aware model."""
        torch = self.torch
        with torch.no_grad():
            if symbols is None:
                c = self.model.cfg.latent
                h, w = self.model.latent_shape(self.grey.shape[2], self.grey.shape[3])
                zeros = torch.zeros(1, c, h, w)
                out = self.model.decode(zeros, prev, zeros)
            else:
                y_hat = self.model.dequantise(torch.from_numpy(symbols)[None], level)
                out = self.model.decode(y_hat, self.grey if key else prev,
                                        None if keep is None else torch.from_numpy(keep)[None])
            img = (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        return self.image_to_tensor(img), img

    def mean_state(self, symbols: np.ndarray, keeps: np.ndarray, level: int, key: bool, prev):
        """The mean of the states decoded from ``symbols`` [N, C, h, w] with arrival masks ``keeps``
        (same shape; zero symbols where lost), in one batch: the sender's guess of an unheard frame."""
        torch = self.torch
        with torch.no_grad():
            n = symbols.shape[0]
            y_hat = self.model.dequantise(torch.from_numpy(symbols), level)
            ref = (self.grey if key else prev).expand(n, -1, -1, -1)
            out = self.model.decode(y_hat, ref, torch.from_numpy(keeps))
            # each sample as the receiver would hold it (8-bit), then averaged
            return (torch.round(out.clamp(0, 1) * 255.0) / 255.0).mean(0, keepdim=True)


@dataclass
class _Sent:
    symbols: np.ndarray
    level: int
    key: bool
    k: int
    copies: int = 1


class GraceSender:
    """Encodes frames into packets; resynchronises its reference from the receiver's feedback.

    ``key_copies=2`` (3) sends every element of a key frame in two (three) packets (see packets.py);
    ``in_flight_samples=N`` codes frames whose mask is not back against the mean of N sampled-loss
    decodes (see the module docstring)."""

    def __init__(self, model, height: int, width: int, level: int, packets: int = 8,
                 keyframe_interval: int = 0, history: int = 256, key_copies: int = 2,
                 in_flight_samples: int = 0) -> None:
        self.model = model
        self.codec = PacketCodec(model.scales(slice(None)).detach().double().numpy())
        self.dec = _Decoder(model, height, width)
        if not 0 <= level < model.cfg.levels:
            raise ValueError(f"--level {level}: the model has levels 0..{model.cfg.levels - 1}")
        if key_copies not in COPY_CHOICES:
            raise ValueError(f"--key-copies {key_copies}: expected 1, 2 or 3")
        self.level, self.k, self.keyframe_interval, self.history = level, packets, keyframe_interval, history
        self.key_copies = key_copies
        if not 0 <= in_flight_samples <= 16:
            raise ValueError(f"in_flight_samples {in_flight_samples}: expected 0..16")
        #: 0: code in-flight frames against the full-arrival estimate; N: against the mean of N
        #: decodes with packet masks drawn at the loss rate observed in recent feedback
        self.in_flight_samples = in_flight_samples
        self._recent_loss: deque[tuple[int, int]] = deque(maxlen=LOSS_WINDOW)  # (packets lost, packets) per mask
        self.frame = 0
        self._sent: dict[int, _Sent] = {}
        self._masks: dict[int, int] = {}
        self._base = -1                       # last frame whose state is known exactly
        self._base_state = self.dec.grey
        self._estimates: dict[int, object] = {}
        self._pli = False
        self.keyframes = 0

    def encode(self, image: np.ndarray, now: float = 0.0) -> list[bytes]:
        """Packets of the next frame (uint8 RGB [H, W, 3])."""
        f = self.frame
        key = (f == 0 or self._pli or (self.keyframe_interval and f % self.keyframe_interval == 0))
        self._pli = False
        ref = self.dec.grey if key else self._estimate(f - 1)
        torch = self.dec.torch
        with torch.no_grad():
            sym = self.model.encode_symbols(self.dec.image_to_tensor(image), ref, self.level)[0].numpy()
        copies = self.key_copies if key else 1
        self._sent[f] = _Sent(sym, self.level, bool(key), self.k, copies)
        self.keyframes += bool(key)
        self.frame += 1
        while len(self._sent) > self.history:  # feedback lost for too long: assume full arrival
            g = self._base + 1
            if g not in self._masks:
                self._masks[g] = (1 << self._sent[g].k) - 1
                self._drop_estimates(g)
            self._advance(g)
        return self.codec.encode(sym, f, self.level, bool(key), self.k, copies)

    def receive_feedback(self, data: bytes, now: float = 0.0) -> None:
        """Take a feedback message; a corrupt one raises PacketError and changes nothing."""
        entries, pli = decode_feedback(data)
        self._pli |= pli
        first_partial = None
        for f16, mask in entries:
            f = _unwrap(f16, self.frame - 1)
            if f <= self._base or f in self._masks or f not in self._sent:
                continue
            self._masks[f] = mask
            s = self._sent[f]
            self._recent_loss.append((s.k - bin(mask).count("1"), s.k))
            # with in-flight sampling every estimate of an unheard frame was a guess
            if self.in_flight_samples or group_mask(mask, s.k, s.copies) != (1 << s.k) - 1:
                first_partial = f if first_partial is None else min(first_partial, f)
        if first_partial is not None:
            self._drop_estimates(first_partial)
        while self._base + 1 in self._masks:
            self._advance(self._base + 1)

    def _advance(self, f: int) -> None:
        """Frame ``f`` (= base + 1) becomes the exactly known state; forget what it needed."""
        self._base_state = self._estimate(f)
        self._base = f
        self._sent.pop(f, None)
        self._masks.pop(f, None)
        self._estimates.pop(f, None)

    def _drop_estimates(self, first: int) -> None:
        for g in [g for g in self._estimates if g >= first]:
            del self._estimates[g]

    def observed_loss(self) -> float:
        """Packet loss rate in the last `LOSS_WINDOW` frames' feedback (0 before any)."""
        lost, total = map(sum, zip(*self._recent_loss)) if self._recent_loss else (0, 0)
        return lost / total if total else 0.0

    def _replay(self, f: int, prev):
        s = self._sent[f]
        p = self.observed_loss() if self.in_flight_samples and f not in self._masks else 0.0
        if p > 0:  # unheard: the mean receiver state over masks drawn at the observed loss rate
            rng = np.random.Generator(np.random.PCG64([0x666C6967, f & 0xFFFF]))
            groups = [group_mask(sum(1 << i for i in range(s.k) if rng.random() >= p), s.k, s.copies)
                      for _ in range(self.in_flight_samples)]
            syms = np.stack([PacketCodec.mask_symbols(s.symbols, f, s.k, g) for g in groups])
            keeps = np.stack([PacketCodec.arrival_keep(s.symbols.shape, f, s.k, g) for g in groups])
            return self.dec.mean_state(syms, keeps, s.level, s.key, prev)
        return self._decode_mask(f, prev, self._masks.get(f, (1 << s.k) - 1))

    def _decode_mask(self, f: int, prev, packet_mask: int):
        s = self._sent[f]
        # the receiver's rule: an element arrived if any packet carrying it did
        mask = group_mask(packet_mask, s.k, s.copies)
        if mask == 0:
            return self.dec.decode(None, s.level, s.key, prev)[0]
        if mask == (1 << s.k) - 1:
            return self.dec.decode(s.symbols, s.level, s.key, prev)[0]
        sym = PacketCodec.mask_symbols(s.symbols, f, s.k, mask)
        keep = PacketCodec.arrival_keep(sym.shape, f, s.k, mask)
        return self.dec.decode(sym, s.level, s.key, prev, keep)[0]

    def _estimate(self, f: int):
        """The receiver's state after frame ``f`` as far as the sender knows."""
        if f <= self._base:
            return self._base_state
        if f not in self._estimates:
            self._estimates[f] = self._replay(f, self._estimate(f - 1))
        return self._estimates[f]

    @property
    def synced_frame(self) -> int:
        """The last frame whose receiver state the sender knows exactly (-1: none yet)."""
        return self._base

    def receiver_state(self, f: int):
        """The sender's view of the receiver's state after frame ``f`` (for tests and checks)."""
        return self._estimate(f)


@dataclass
class DecodedFrame:
    """A frame the receiver decoded: its number, image, packets used (mask) and time."""

    frame: int
    image: np.ndarray
    mask: int
    received: int
    time: float


class GraceReceiver:
    """Reassembles and decodes frames in order; emits feedback."""

    def __init__(self, model, height: int, width: int, wait_ms: float = 40.0, keep_states: int = 0,
                 last_packet_completes: bool = False) -> None:
        self.dec = _Decoder(model, height, width)
        #: decode a frame as soon as its last packet (index K-1) arrives: on a FIFO path nothing more comes
        self.last_packet_completes = last_packet_completes
        self.codec = PacketCodec(model.scales(slice(None)).detach().double().numpy())
        self.wait_ms = wait_ms
        self.next = 0                     # next frame to decode
        self.state = self.dec.grey
        self._pending: dict[int, list[GracePacket]] = {}
        self._first_arrival: dict[int, float] = {}
        self._recent: list[tuple[int, int]] = []
        self._feedback_due = False
        self.rejected: list[str] = []
        self.late = 0
        self.keep_states = keep_states
        self.states: dict[int, object] = {}

    def receive_packet(self, data: bytes, now: float) -> list[DecodedFrame]:
        """Take one packet; return the frames this lets the receiver decode."""
        try:
            pkt = self.codec.parse(data)
        except PacketError as exc:
            self.rejected.append(f"{type(exc).__name__}: {exc}")
            return []
        f = _unwrap(pkt.frame, self.next)
        if f < self.next:
            self.late += 1
            return []
        out = self._decode_until(f, now)  # a later frame's packet: earlier frames are done
        got = self._pending.setdefault(f, [])
        if all(p.index != pkt.index for p in got):
            got.append(pkt)
        self._first_arrival.setdefault(f, now)
        last = self.last_packet_completes and pkt.index == pkt.count - 1
        if (len(got) == pkt.count or last) and f == self.next:
            out += self._decode_until(f + 1, now)
        return out

    def next_timer(self) -> float | None:
        """When the oldest incomplete frame gives up waiting (None: nothing waits)."""
        return self._first_arrival[self.next] + self.wait_ms if self.next in self._first_arrival else None

    def handle_timer(self, now: float) -> list[DecodedFrame]:
        """Decode the waiting frame if its wait is over."""
        t = self.next_timer()
        return self._decode_until(self.next + 1, now) if t is not None and now >= t else []

    def flush(self, now: float) -> list[DecodedFrame]:
        """Decode the waiting frame now from whatever arrived (the stream's end: nothing will follow it)."""
        return self._decode_until(self.next + 1, now) if self.next in self._first_arrival else []

    def feedback_to_send(self, pli: bool = False) -> bytes | None:
        """The feedback message due after decoding (None if nothing new)."""
        if not self._feedback_due and not pli:
            return None
        self._feedback_due = False
        return encode_feedback(self._recent[-FEEDBACK_REPEAT:], pli)

    def _decode_until(self, stop: int, now: float) -> list[DecodedFrame]:
        out = []
        while self.next < stop:
            f = self.next
            pkts = self._pending.pop(f, [])
            self._first_arrival.pop(f, None)
            mask = sum(1 << p.index for p in pkts)
            if pkts:
                p0 = pkts[0]
                sym = PacketCodec.assemble(pkts, p0.shape)
                groups = group_mask(mask, p0.count, p0.copies)
                full = groups == (1 << p0.count) - 1
                keep = None if full else PacketCodec.arrival_keep(p0.shape, f, p0.count, groups)
                self.state, img = self.dec.decode(sym, p0.level, p0.key, self.state, keep)
            else:
                self.state, img = self.dec.decode(None, 0, False, self.state)
            if self.keep_states:
                self.states[f] = self.state
                self.states.pop(f - self.keep_states, None)
            self._recent = (self._recent + [(f, mask)])[-FEEDBACK_REPEAT:]
            self._feedback_due = True
            out.append(DecodedFrame(f, img, mask, len(pkts), now))
            self.next += 1
        return out

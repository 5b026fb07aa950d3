"""VP8 with three temporal layers: a short clip encoded once by libvpx (through PyAV), RTP packetisation with
RFC 7741 payload descriptors (aiortc's `VpxPayloadDescriptor`, carrying TID), and frame reassembly.

libvpx is asked for three temporal layers with `ts-parameters` (`ts_number_layers=3`,
`ts_layering_mode=3`: the 0,2,1,2 pattern of period 4, where layer 0 frames reference only layer 0,
layer 1 frames layer 0, layer 2 frames anything below; rate decimators 4,2,1). Encoding live for every
sender would dominate a simulation's CPU time, so each process encodes one clip (`CLIP_FRAMES` frames
of a gradient and a panning noise texture from a fixed seed, the first a keyframe; every plane is set,
so the clip is the same bytes in every process) once and senders loop it: every loop starts at the
keyframe, so a receiver decoding the loop keeps a valid reference chain, and a keyframe request (PLI)
makes the sender jump to the next loop start. The frames a receiver decodes are real VP8 frames.
"""
from __future__ import annotations

import fractions
from dataclasses import dataclass
from functools import lru_cache

from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import RtpPacket

VP8_PT = 96
CLOCK_HZ = 90_000
FPS = 30
CLIP_FRAMES = 60
TID_PATTERN = (0, 2, 1, 2)          # ts_layering_mode=3, frame index mod 4 -> temporal layer
MAX_PAYLOAD = 1100                  # bytes of VP8 data per RTP packet


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded VP8 frame of the clip."""

    index: int
    tid: int
    keyframe: bool
    data: bytes


@lru_cache(maxsize=4)
def encode_clip(width: int = 160, height: int = 120, bitrate_kbps: int = 900,
                frames: int = CLIP_FRAMES) -> tuple[EncodedFrame, ...]:
    """The clip, encoded with three temporal layers (cached per process)."""
    import av
    import numpy as np

    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.framerate, ctx.time_base = FPS, fractions.Fraction(1, FPS)
    ctx.bit_rate = bitrate_kbps * 1000
    rates = f"{bitrate_kbps // 4},{bitrate_kbps // 2},{bitrate_kbps}"
    ctx.options = {"ts-parameters": f"ts_number_layers=3:ts_target_bitrate={rates}:ts_rate_decimator=4,2,1:"
                                    "ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
                   "deadline": "good", "cpu-used": "8", "lag-in-frames": "0", "threads": "1", "g": str(10 * frames)}
    ctx.open()
    cols = np.arange(width)[None, :]
    rows = np.arange(height)[:, None]
    texture = np.random.default_rng(0).integers(0, 256, (height, 2 * width), dtype=np.uint8)   # fixed seed
    out: list[EncodedFrame] = []
    for i in range(frames):
        f = av.VideoFrame(width, height, "yuv420p")
        luma = ((cols * 2 + rows + i * 4) % 256).astype(np.uint8)
        luma[:, width // 2:] = texture[:, i * 4 % width: i * 4 % width + width - width // 2]   # a panning texture
        f.planes[0].update(luma.tobytes())
        f.planes[1].update(np.full((height // 2, width // 2), (i * 3) % 256, np.uint8).tobytes())
        f.planes[2].update(np.full((height // 2, width // 2), 128, np.uint8).tobytes())   # every plane set: determinism
        f.pts = i
        for pkt in ctx.encode(f):
            out.append(EncodedFrame(len(out), TID_PATTERN[len(out) % 4], bool(pkt.is_keyframe), bytes(pkt)))
    for pkt in ctx.encode(None):
        out.append(EncodedFrame(len(out), TID_PATTERN[len(out) % 4], bool(pkt.is_keyframe), bytes(pkt)))
    if not out or not out[0].keyframe:
        raise RuntimeError("libvpx did not start the clip with a keyframe")
    return tuple(out)


def packetize(frame: EncodedFrame, ssrc: int, seq: int, timestamp: int, picture_id: int,
              tl0picidx: int) -> list[RtpPacket]:
    """RTP packets of one frame: VP8 descriptor (S on the first, I/L/T with TID and Y) and marker on the last."""
    chunks = [frame.data[i:i + MAX_PAYLOAD] for i in range(0, len(frame.data), MAX_PAYLOAD)] or [b""]
    pkts = []
    for k, chunk in enumerate(chunks):
        desc = VpxPayloadDescriptor(partition_start=int(k == 0), partition_id=0, picture_id=picture_id & 0x7FFF,
                                    tl0picidx=tl0picidx & 0xFF, tid=(frame.tid, 1 if frame.tid == 0 else 0))
        pkts.append(RtpPacket(payload_type=VP8_PT, marker=int(k == len(chunks) - 1),
                              sequence_number=(seq + k) & 0xFFFF, timestamp=timestamp & 0xFFFFFFFF,
                              ssrc=ssrc, payload=bytes(desc) + chunk))
    return pkts


class FrameAssembler:
    """Collects one stream's RTP packets into complete VP8 frames (first packet with S=1 through the marker)."""

    def __init__(self) -> None:
        self.frames: dict[int, dict[int, tuple[int, int, bytes]]] = {}   # timestamp -> seq -> (start, marker, data)

    def add(self, pkt: RtpPacket) -> tuple[int, int, bytes] | None:
        """Add a packet; (timestamp, tid, frame bytes) when its frame is complete."""
        desc, data = VpxPayloadDescriptor.parse(pkt.payload)
        parts = self.frames.setdefault(pkt.timestamp, {})
        parts[pkt.sequence_number] = (desc.partition_start, pkt.marker, data)
        starts = [s for s, (st, _, _) in parts.items() if st]
        ends = [s for s, (_, m, _) in parts.items() if m]
        if not starts or not ends:
            return None
        first, last = starts[0], ends[0]
        n = (last - first) & 0xFFFF
        seqs = [(first + k) & 0xFFFF for k in range(n + 1)]
        if n > 64 or any(s not in parts for s in seqs):
            return None
        del self.frames[pkt.timestamp]
        if len(self.frames) > 64:   # forget frames that never completed
            for ts in list(self.frames)[:-32]:   # oldest first (insertion order)
                del self.frames[ts]
        tid = desc.tid[0] if desc.tid else 0
        return pkt.timestamp, tid, b"".join(parts[s][2] for s in seqs)

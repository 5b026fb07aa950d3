"""Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01) for the SFU's clients
and controller.

* The sender numbers every RTP packet it sends (retransmissions too) in the transport-wide sequence number
  header extension (RFC 8285 one-byte form, id `TW_EXT_ID`), written by aiortc's `HeaderExtensionsMap`.
* A receiver reports, per sender it hears, which of that sender's transport-wide numbers arrived and when,
  in a transport-cc feedback message (RTCP RTPFB, FMT 15; `pack_feedback`/`parse_feedback`, chunks and
  deltas as the draft defines them). aiortc has no class for it, so it is built here on aiortc's
  `pack_rtcp_packet`; aiortc's `RtcpPacket.parse` still walks a compound holding it.
* The estimate needs each packet's send time and size, which the data plane of a P4 SFU cannot hand the
  controller (it never sees media). So each sender adds a *send log* to the RTCP compound it already sends
  every 500 ms: an RTCP APP packet (PT 204, name `NKSL`, netkit's own) listing its transport-wide numbers
  with their send times and sizes. A software SFU would keep that log itself.
* `TwccEstimate` (the controller, one per receiver) matches feedback with the senders' logs and feeds the
  queueing delay of every matched packet (arrival minus send time, less the smallest such on that
  sender's path) and the received rate to the same `TrendEstimator` the REMB-sending clients run.
"""
from __future__ import annotations

import struct

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, pack_rtcp_packet

from netkit.apps.sfu.estimator import TrendEstimator

TW_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
TW_EXT_ID = 3
RTCP_RTPFB, RTCP_APP, TWCC_FMT = 205, 204, 15
SEND_LOG_NAME = b"NKSL"
DELTA_US = 250                   # recv delta unit
REF_US = 64_000                  # reference time unit
MIN_SPAN_US = 50_000             # the shortest span a received rate is measured over
KEEP_US = 2_000_000              # unmatched arrivals and old send-log entries are forgotten after this
_LOG_ENTRY = struct.Struct("!IH")


def extension_map() -> HeaderExtensionsMap:
    """aiortc's header extension map with the transport-wide sequence number at `TW_EXT_ID`."""
    m = HeaderExtensionsMap()
    m.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=TW_EXT_ID, uri=TW_URI)]))
    return m


TW_MAP = extension_map()
TW_OFFSET = 12 + 4 + 1           # the extension's two bytes in a packet with no CSRC and only this extension


def set_tw_seq(packet: bytes, tw_seq: int) -> bytes:
    """`packet` (serialised with `TW_MAP` and no other extension) renumbered (a retransmission's new number)."""
    return packet[:TW_OFFSET] + struct.pack("!H", tw_seq & 0xFFFF) + packet[TW_OFFSET + 2:]


# ------------------------------------------------------------------ transport-cc feedback (RTPFB FMT 15)
def pack_feedback(sender_ssrc: int, media_ssrc: int, base_seq: int, arrivals: list[int | None],
                  fb_count: int) -> bytes:
    """A feedback message for numbers base_seq.. (`arrivals[k]`: receive time of base_seq+k in us, None: lost).

    Packet chunks are two-bit status vectors (7 statuses each); a delta that does not fit one byte (0-63.75 ms)
    is a large (signed two-byte) delta. The first received packet must be within 2^23 x 64 ms of time 0."""
    if not arrivals or arrivals[0] is None:
        raise ValueError("feedback must start at a received packet")
    ref = arrivals[0] // REF_US
    symbols, deltas = [], b""
    prev = ref * REF_US // DELTA_US
    for t in arrivals:
        if t is None:
            symbols.append(0)
            continue
        ticks = t // DELTA_US
        d, prev = ticks - prev, ticks
        if 0 <= d <= 255:
            symbols.append(1)
            deltas += bytes([d])
        else:
            symbols.append(2)
            deltas += struct.pack("!h", max(-32768, min(32767, d)))
    chunks = b""
    for i in range(0, len(symbols), 7):
        part = symbols[i:i + 7] + [0] * (7 - len(symbols[i:i + 7]))
        word = 0xC000
        for k, s in enumerate(part):
            word |= s << (12 - 2 * k)
        chunks += struct.pack("!H", word)
    body = struct.pack("!IIHHI", sender_ssrc, media_ssrc, base_seq & 0xFFFF, len(arrivals),
                       ((ref & 0xFFFFFF) << 8) | (fb_count & 0xFF)) + chunks + deltas
    body += bytes(-len(body) % 4)
    return pack_rtcp_packet(RTCP_RTPFB, TWCC_FMT, body)


def parse_feedback(body: bytes) -> tuple[int, int, list[tuple[int, int | None]]]:
    """(sender SSRC, media SSRC, [(transport-wide number, arrival us or None)]) of a FMT 15 message's body
    (after the 4-byte RTCP header). ValueError when it is cut short or inconsistent."""
    if len(body) < 16:
        raise ValueError(f"transport-cc feedback of {len(body)} bytes, expected at least 16")
    sender, media, base, count, rf = struct.unpack_from("!IIHHI", body)
    ref = rf >> 8
    if ref & 0x800000:
        ref -= 1 << 24
    statuses: list[int] = []
    pos = 16
    while len(statuses) < count:
        if pos + 2 > len(body):
            raise ValueError("transport-cc feedback: packet chunks run past the end")
        (w,) = struct.unpack_from("!H", body, pos)
        pos += 2
        if not w & 0x8000:                          # run length
            statuses += [(w >> 13) & 3] * (w & 0x1FFF)
        elif not w & 0x4000:                        # status vector, 14 one-bit symbols
            statuses += [(w >> (13 - k)) & 1 for k in range(14)]
        else:                                       # status vector, 7 two-bit symbols
            statuses += [(w >> (12 - 2 * k)) & 3 for k in range(7)]
    statuses = statuses[:count]
    ticks = ref * REF_US // DELTA_US
    out: list[tuple[int, int | None]] = []
    for k, s in enumerate(statuses):
        seq = (base + k) & 0xFFFF
        if s == 0:
            out.append((seq, None))
            continue
        if s == 1:
            if pos + 1 > len(body):
                raise ValueError("transport-cc feedback: receive deltas run past the end")
            d = body[pos]
            pos += 1
        elif s == 2:
            if pos + 2 > len(body):
                raise ValueError("transport-cc feedback: receive deltas run past the end")
            (d,) = struct.unpack_from("!h", body, pos)
            pos += 2
        else:
            raise ValueError("transport-cc feedback: reserved status symbol")
        ticks += d
        out.append((seq, ticks * DELTA_US))
    return sender, media, out


# ------------------------------------------------------------------ the senders' send log (RTCP APP, NKSL)
def pack_send_log(ssrc: int, entries: list[tuple[int, int, int]]) -> bytes:
    """An APP packet listing (transport-wide number, send time us, size bytes) of consecutive numbers."""
    base_seq, base_t = entries[0][0], entries[0][1]
    body = struct.pack("!I4sHHQ", ssrc, SEND_LOG_NAME, base_seq & 0xFFFF, len(entries), base_t)
    body += b"".join(_LOG_ENTRY.pack(t - base_t, size) for _seq, t, size in entries)
    body += bytes(-len(body) % 4)
    return pack_rtcp_packet(RTCP_APP, 0, body)


def parse_send_log(body: bytes) -> tuple[int, list[tuple[int, int, int]]] | None:
    """(SSRC, entries) of an APP packet's body if it is a send log (None: another APP), ValueError if cut."""
    if len(body) < 8 or body[4:8] != SEND_LOG_NAME:
        return None
    if len(body) < 20:
        raise ValueError(f"send log of {len(body)} bytes, expected at least 20")
    ssrc, _name, base, count, base_t = struct.unpack_from("!I4sHHQ", body)
    if len(body) < 20 + count * _LOG_ENTRY.size:
        raise ValueError(f"send log announces {count} entries, holds {(len(body) - 20) // _LOG_ENTRY.size}")
    out = []
    for k in range(count):
        dt, size = _LOG_ENTRY.unpack_from(body, 20 + k * _LOG_ENTRY.size)
        out.append(((base + k) & 0xFFFF, base_t + dt, size))
    return ssrc, out


def rtcp_parts(compound: bytes):
    """(packet type, count/FMT, body) of each packet of a compound (the caller has validated it with aiortc)."""
    pos = 0
    while pos + 4 <= len(compound):
        b0, pt, words = struct.unpack_from("!BBH", compound, pos)
        end = pos + 4 + 4 * words
        yield pt, b0 & 0x1F, compound[pos + 4:end]
        pos = end


# ------------------------------------------------------------------ the controller's side
class SendLogs:
    """What every sender logged: (sender SSRC, transport-wide number) -> (send time us, size)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, int], tuple[int, int]] = {}
        self.latest = 0

    def add(self, ssrc: int, entries: list[tuple[int, int, int]]) -> None:
        """One send log of `ssrc`."""
        for seq, t, size in entries:
            self.entries[(ssrc, seq)] = (t, size)
            self.latest = max(self.latest, t)
        if len(self.entries) > 8192:
            cut = self.latest - KEEP_US
            self.entries = {k: v for k, v in self.entries.items() if v[0] >= cut}


class TwccEstimate:
    """One receiver's downlink estimate from its transport-cc feedback: `TrendEstimator` on matched packets."""

    def __init__(self, logs: SendLogs, initial_bps: float = 2.5e6):
        self.logs = logs
        self.trend = TrendEstimator(initial_bps)
        self.pending: dict[tuple[int, int], int] = {}        # (sender, number) -> arrival us, not yet matched
        self.min_transit: dict[int, int] = {}                 # per sender path
        self.window: list[tuple[int, int]] = []              # (arrival us, bytes) matched since the last update
        self.matched = 0

    def feedback(self, media_ssrc: int, arrivals: list[tuple[int, int | None]]) -> None:
        """A feedback message about `media_ssrc`'s packets."""
        for seq, t in arrivals:
            if t is not None:
                self.pending[(media_ssrc, seq)] = t
        self.match()

    def match(self) -> None:
        """Feed every pending arrival whose send time is known (also called when a send log comes in)."""
        if not self.pending:
            return
        done = []
        for key, t in sorted(self.pending.items(), key=lambda kv: kv[1]):
            sent = self.logs.entries.get(key)
            if sent is None:
                continue
            transit = t - sent[0]
            low = self.min_transit.get(key[0])
            if low is None or transit < low:
                self.min_transit[key[0]] = low = transit
            self.trend.on_packet(t, (transit - low) / 1000)
            self.window.append((t, sent[1] + 28))
            self.matched += 1
            done.append(key)
        for key in done:
            del self.pending[key]
        if len(self.pending) > 4096:
            newest = max(self.pending.values())
            self.pending = {k: t for k, t in self.pending.items() if newest - t < KEEP_US}

    def update(self, now_us: int) -> float | None:
        """The estimate after one of the receiver's reports; None while no reported packet could be matched yet.

        A sender's log comes with its own 500 ms compound, so some of a report's packets are matched only by
        a later log: the received rate is the matched packets' bytes over the span of their arrivals, not over
        the time since the last report."""
        if not self.window:
            return None
        times = [t for t, _ in self.window]
        span = max(MIN_SPAN_US, max(times) - min(times))
        recv_bps = sum(b for _, b in self.window) * 8 * 1_000_000 / span
        self.window = []
        return self.trend.update(now_us, recv_bps)

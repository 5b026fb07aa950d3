"""A meeting participant as a sans-I/O RTP endpoint: sends its VP8 stream (three temporal layers) with SR,
answers NACK (retransmits on the same SSRC, or as RFC 4588 packets on its RTX SSRC when negotiated) and PLI
(next keyframe); receives the others' streams, restores RTX packets, reassembles and decodes them with libvpx,
NACKs gaps, and reports RR + REMB, or RR + transport-cc feedback (TWCC, netkit/apps/sfu/twcc.py); with
transport-wide numbering on, its compound also carries its send log.

Plain RTP, no SRTP: the SFU's data plane rewrites sequence numbers and addresses, which SRTP's
authentication tag covers (docs/sfu.md). The driver (simulator or live socket loop) calls
`tick(now_us)` at `next_wakeup_us()` and `receive(payload, now_us)` for each datagram from the SFU;
both return the UDP payloads to send to the SFU.

The downlink estimate in the REMB is delay based: by default (`estimator="trend"`) the GCC-like
`TrendEstimator` of netkit/apps/sfu/estimator.py (trend of queueing delay, overuse detector, AIMD
remembering the last congestion level); `estimator="queue"` is the first session's rule: every
report interval the receiver compares each stream's recent transit time (arrival minus RTP
timestamp) with its minimum; queueing above `OVERUSE_MS` cuts the estimate to 0.85 x the received
rate, otherwise it grows 8% per report, capped at 1.5 x the received rate + 1 Mbit/s of probing headroom.
"""
from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field

from aiortc.rtp import (RtcpPacket, RtcpPsfbPacket, RtcpReceiverInfo, RtcpRrPacket, RtcpRtpfbPacket,
                        RtcpSenderInfo, RtcpSrPacket, RtpPacket, pack_remb_fci, unwrap_rtx, wrap_rtx)

from netkit.apps.sfu.estimator import TrendEstimator
from netkit.apps.sfu.media import CLOCK_HZ, FPS, VP8_PT, EncodedFrame, FrameAssembler, packetize
from netkit.apps.sfu.twcc import TW_MAP, pack_feedback, pack_send_log, set_tw_seq

RTX_PT = 97                 # RFC 4588 retransmissions of VP8 (apt 96) on the sender's RTX SSRC
REPORT_US = 500_000
SR_US = 1_000_000
OVERUSE_MS = 60.0
NACK_RETRY_US = 150_000
ESTIMATORS = ("trend", "queue")
NTP_EPOCH_OFFSET = 2_208_988_800


def _ntp(now_us: int) -> int:
    secs, us = divmod(now_us, 1_000_000)
    return ((secs + NTP_EPOCH_OFFSET) << 32) | (us * (1 << 32) // 1_000_000)


def _from_ntp(ntp: int) -> int:
    return ((ntp >> 32) - NTP_EPOCH_OFFSET) * 1_000_000 + (ntp & 0xFFFFFFFF) * 1_000_000 // (1 << 32)


@dataclass
class RemoteStream:
    """What a participant measures of one other participant's stream."""

    ssrc: int
    assembler: FrameAssembler = field(default_factory=FrameAssembler)
    decoder: object = None
    highest: int | None = None
    received: int = 0
    missing: dict[int, int] = field(default_factory=dict)   # seq -> when NACKed last
    nacks_sent: int = 0
    recovered: int = 0
    lost_unrecovered: int = 0
    seq_gaps: int = 0          # gaps in the numbering the SFU gave us (before any recovery)
    decoded_us: list[int] = field(default_factory=list)
    frame_delay_ms: list[float] = field(default_factory=list)     # capture -> frame complete (its last packet in)
    frame_delay_at_us: list[int] = field(default_factory=list)    # when each of those frames completed
    decode_errors: int = 0
    last_ts: int | None = None
    sr: tuple[int, int] | None = None       # (sender wall clock us, rtp timestamp) of the last SR
    transit_min: float | None = None
    recent_transit: deque = field(default_factory=lambda: deque(maxlen=64))
    jitter: float = 0.0
    _last_transit: float | None = None
    frame_first_us: dict[int, int] = field(default_factory=dict)    # probe: timestamp -> first packet's arrival
    frame_log: list[tuple[int, int, int, int]] | None = None       # probe: (timestamp, first, complete, decode us)

    def fps(self, since_us: int, until_us: int) -> float:
        """Frames decoded per second in [since, until)."""
        n = sum(1 for t in self.decoded_us if since_us <= t < until_us)
        return n / max(1e-9, (until_us - since_us) / 1e6)

    def max_freeze_ms(self, since_us: int, until_us: int) -> float:
        """The longest time without a decoded frame in [since, until)."""
        ts = [since_us] + [t for t in self.decoded_us if since_us <= t < until_us] + [until_us]
        return max(b - a for a, b in zip(ts, ts[1:])) / 1000

    def freeze_ms(self, since_us: int, until_us: int) -> float:
        """Total frozen time: inter-frame gaps over max(3 x the mean of the last 30 gaps, mean + 150 ms)."""
        ts = [t for t in self.decoded_us if since_us <= t < until_us]
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        frozen, window = 0, deque(maxlen=30)
        for g in gaps:
            if window:
                mean = sum(window) / len(window)
                if g > max(3 * mean, mean + 150_000):
                    frozen += g
            window.append(g)
        if ts:
            tail = until_us - ts[-1]
            if tail > 500_000:
                frozen += tail
        else:
            frozen = until_us - since_us
        return frozen / 1000


class MediaParticipant:
    """One participant's RTP endpoint (sender of one stream, receiver of the others')."""

    def __init__(self, name: str, ssrc: int, clip: tuple[EncodedFrame, ...], start_us: int = 0,
                 decode: bool = True, initial_estimate_bps: float = 2.5e6, estimator: str = "trend",
                 probe: bool = False, twcc: bool = False, tw_send: bool | None = None,
                 rtx_ssrc: int | None = None, rtx_of: dict[int, int] | None = None):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator {estimator!r}: expected one of {', '.join(ESTIMATORS)}")
        self.name, self.ssrc, self.clip = name, ssrc, clip
        self.trend = TrendEstimator(initial_estimate_bps) if estimator == "trend" else None
        self.decode = decode
        self.seq = (ssrc * 7919) & 0xFFFF
        self.ts0 = (ssrc * 104729) & 0xFFFFFFFF
        self.start_us = start_us
        self.frame_no = 0
        self.clip_pos = 0
        self.picture_id = 0
        self.tl0 = 0
        self.keyframe_pending = False
        self.sent_packets = 0
        self.sent_bytes = 0
        self.retransmitted = 0
        self.keyframes_sent = 0
        self.history: dict[int, bytes] = {}
        self.history_order: deque = deque()
        self.next_frame_us = start_us
        self.next_report_us = start_us + REPORT_US
        self.next_sr_us = start_us
        self.remote: dict[int, RemoteStream] = {}
        self.estimate_bps = initial_estimate_bps
        self.remb_sent: list[tuple[int, float]] = []
        self.rx_bytes_window = 0
        self.bad_packets = 0
        self.probe = probe          # record each frame's times (the delay breakdown of benchmarks/sfu_live.py)
        # TWCC (netkit/apps/sfu/twcc.py): `tw_send` numbers what we send (transport-wide sequence extension) and
        # puts a send log in our 500 ms compound (default: with `twcc`); `twcc` sends transport-cc feedback on
        # what we receive there instead of a REMB
        self.twcc = twcc
        self.tw_send = twcc if tw_send is None else tw_send
        self.tw_seq = 0
        self.send_log: list[tuple[int, int, int]] = []
        self.tw_arrivals: dict[int, dict[int, int]] = {}     # sender SSRC -> transport-wide number -> arrival us
        self.twcc_fb_count = 0
        # RFC 4588: retransmit on our own RTX SSRC (payload type RTX_PT, the OSN first); `rtx_of` maps the
        # others' RTX SSRCs to their media SSRCs (both from signalling)
        self.rtx_ssrc = rtx_ssrc
        self.rtx_seq = (ssrc * 104723) & 0xFFFF
        self.rtx_of = dict(rtx_of or {})
        self.rtx_received: dict[int, set[int]] = {}        # RTX SSRC -> sequence numbers received on it
        self.rtx_restored = 0
        self.sent_frames: dict[int, tuple[int, int]] = {}    # probe: timestamp -> (nominal capture, sent) us

    # ----------------------------------------------------------------- timing
    def next_wakeup_us(self) -> int:
        """When `tick` has work next."""
        return min(self.next_frame_us, self.next_report_us, self.next_sr_us)

    def tick(self, now_us: int) -> list[bytes]:
        """Send what is due: SR, the next frame's packets, the receiver report with REMB and NACK retries."""
        out: list[bytes] = []
        if now_us >= self.next_sr_us:
            out.append(self._sender_report(now_us))
            self.next_sr_us += SR_US
        if now_us >= self.next_frame_us:
            out += self._frame(now_us)
            self.next_frame_us = self.start_us + (self.frame_no * 1_000_000) // FPS
        if now_us >= self.next_report_us:
            out += self._reports(now_us)
            self.next_report_us += REPORT_US
        return out

    # ----------------------------------------------------------------- sending
    def _rtp_ts(self, now_us: int) -> int:
        return (self.ts0 + (now_us - self.start_us) * CLOCK_HZ // 1_000_000) & 0xFFFFFFFF

    def _frame(self, now_us: int) -> list[bytes]:
        if self.keyframe_pending:
            self.clip_pos = 0
            self.keyframe_pending = False
        frame = self.clip[self.clip_pos]
        if frame.keyframe:
            self.keyframes_sent += 1
        ts = (self.ts0 + self.frame_no * CLOCK_HZ // FPS) & 0xFFFFFFFF
        if self.probe:
            self.sent_frames[ts] = (self.start_us + (self.frame_no * 1_000_000) // FPS, now_us)
        pkts = packetize(frame, self.ssrc, self.seq, ts, self.picture_id, self.tl0)
        self.seq = (self.seq + len(pkts)) & 0xFFFF
        self.picture_id += 1
        if frame.tid == 0:
            self.tl0 += 1
        self.frame_no += 1
        self.clip_pos = (self.clip_pos + 1) % len(self.clip)
        out = []
        for p in pkts:
            if self.tw_send:
                p.extensions.transport_sequence_number = self._next_tw(now_us, 0)
                data = p.serialize(TW_MAP)
                self.send_log[-1] = self.send_log[-1][:2] + (len(data),)
            else:
                data = p.serialize()
            self.history[p.sequence_number] = data
            self.history_order.append(p.sequence_number)
            if len(self.history_order) > 1024:
                self.history.pop(self.history_order.popleft(), None)
            self.sent_packets += 1
            self.sent_bytes += len(data)
            out.append(data)
        return out

    def _next_tw(self, now_us: int, size: int) -> int:
        seq = self.tw_seq
        self.tw_seq = (seq + 1) & 0xFFFF
        self.send_log.append((seq, now_us, size))
        return seq

    def _retransmit(self, data: bytes, now_us: int) -> bytes:
        if self.rtx_ssrc is not None:
            rtx = wrap_rtx(RtpPacket.parse(data, TW_MAP), RTX_PT, self.rtx_seq, self.rtx_ssrc)
            self.rtx_seq = (self.rtx_seq + 1) & 0xFFFF
            if self.tw_send:
                rtx.extensions.transport_sequence_number = self._next_tw(now_us, 0)
            out = rtx.serialize(TW_MAP)
            if self.tw_send:
                self.send_log[-1] = self.send_log[-1][:2] + (len(out),)
            return out
        if not self.tw_send:
            return data
        return set_tw_seq(data, self._next_tw(now_us, len(data)))

    def _sender_report(self, now_us: int) -> bytes:
        info = RtcpSenderInfo(ntp_timestamp=_ntp(now_us), rtp_timestamp=self._rtp_ts(now_us),
                              packet_count=self.sent_packets, octet_count=self.sent_bytes)
        return bytes(RtcpSrPacket(ssrc=self.ssrc, sender_info=info))

    # ----------------------------------------------------------------- receiving
    def receive(self, payload: bytes, now_us: int) -> list[bytes]:
        """One datagram from the SFU: media of another participant, or RTCP (SR, NACK, PLI, ...)."""
        if len(payload) >= 2 and payload[0] >> 6 == 2 and 192 <= payload[1] <= 223:
            try:
                packets = RtcpPacket.parse(payload)
            except (ValueError, IndexError):
                self.bad_packets += 1
                return []
            out: list[bytes] = []
            for p in packets:
                out += self._rtcp(p, now_us)
            return out
        try:
            pkt = RtpPacket.parse(payload, TW_MAP)
        except ValueError:
            self.bad_packets += 1
            return []
        if self.twcc and pkt.extensions.transport_sequence_number is not None:
            self.tw_arrivals.setdefault(pkt.ssrc, {})[pkt.extensions.transport_sequence_number] = now_us
        if pkt.payload_type == RTX_PT and pkt.ssrc in self.rtx_of:
            if len(pkt.payload) < 2:
                self.bad_packets += 1
                return []
            self.rtx_received.setdefault(pkt.ssrc, set()).add(pkt.sequence_number)
            pkt = unwrap_rtx(pkt, VP8_PT, self.rtx_of[pkt.ssrc])     # the SFU rewrote the OSN to our numbering
            self.rtx_restored += 1
        return self._media(pkt, now_us)

    def _rtcp(self, p, now_us: int) -> list[bytes]:
        if isinstance(p, RtcpSrPacket):
            st = self.remote.setdefault(p.ssrc, RemoteStream(p.ssrc))
            st.sr = (_from_ntp(p.sender_info.ntp_timestamp), p.sender_info.rtp_timestamp)
        elif isinstance(p, RtcpRtpfbPacket) and p.fmt == 1 and p.media_ssrc == self.ssrc:
            out = [self._retransmit(self.history[s], now_us) for s in p.lost if s in self.history]
            self.retransmitted += len(out)
            return out
        elif isinstance(p, RtcpPsfbPacket) and p.fmt in (1, 4) and p.media_ssrc == self.ssrc:
            self.keyframe_pending = True
        return []

    def _media(self, pkt: RtpPacket, now_us: int) -> list[bytes]:
        st = self.remote.get(pkt.ssrc)
        if st is None:
            st = self.remote[pkt.ssrc] = RemoteStream(pkt.ssrc)
        if self.probe:
            st.frame_first_us.setdefault(pkt.timestamp, now_us)
        st.received += 1
        self.rx_bytes_window += len(pkt.payload) + 12 + 28
        seq = pkt.sequence_number
        nack: list[int] = []
        if st.highest is None:
            st.highest = seq
        else:
            ahead = (seq - st.highest) & 0xFFFF
            if 0 < ahead < 0x8000:
                if ahead > 1:
                    st.seq_gaps += 1
                    for k in range(1, ahead):
                        s = (st.highest + k) & 0xFFFF
                        st.missing[s] = now_us
                        nack.append(s)
                st.highest = seq
            elif seq in st.missing:
                del st.missing[seq]
                st.recovered += 1
        # RFC 3550 interarrival jitter, in RTP clock units
        transit = now_us * CLOCK_HZ / 1e6 - pkt.timestamp
        if st._last_transit is not None and abs(transit - st._last_transit) < CLOCK_HZ:
            st.jitter += (abs(transit - st._last_transit) - st.jitter) / 16
        st._last_transit = transit
        transit_ms = transit * 1000 / CLOCK_HZ
        st.transit_min = transit_ms if st.transit_min is None else min(st.transit_min, transit_ms)
        st.recent_transit.append(transit_ms)
        if self.trend is not None:
            self.trend.on_packet(now_us, transit_ms - st.transit_min)
        done = st.assembler.add(pkt)
        if done is not None:
            self._decoded(st, done, now_us)
        if nack:
            st.nacks_sent += 1
            return [bytes(RtcpRtpfbPacket(fmt=1, ssrc=self.ssrc, media_ssrc=pkt.ssrc, lost=nack))]
        return []

    def _decoded(self, st: RemoteStream, done: tuple[int, int, bytes], now_us: int) -> None:
        ts, _tid, data = done
        if st.last_ts is not None and not 0 < ((ts - st.last_ts) & 0xFFFFFFFF) < 0x80000000:
            return   # completed after a later frame was shown: too late to display
        t0 = time.perf_counter_ns() if self.probe else 0
        if self.decode:
            import av

            if st.decoder is None:
                st.decoder = av.CodecContext.create("libvpx", "r")
            try:
                if not st.decoder.decode(av.Packet(data)):
                    st.decode_errors += 1
                    return
            except av.error.FFmpegError:
                st.decode_errors += 1
                return
        if self.probe:
            if st.frame_log is None:
                st.frame_log = []
            st.frame_log.append((ts, st.frame_first_us.pop(ts, now_us), now_us, (time.perf_counter_ns() - t0) // 1000))
        st.last_ts = ts
        st.decoded_us.append(now_us)
        if st.sr is not None:
            wall, rtp = st.sr
            d = ((ts - rtp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            capture = wall + d * 1_000_000 // CLOCK_HZ
            st.frame_delay_ms.append((now_us - capture) / 1000)
            st.frame_delay_at_us.append(now_us)

    # ----------------------------------------------------------------- reports
    def _reports(self, now_us: int) -> list[bytes]:
        recv_bps = self.rx_bytes_window * 8 * 1_000_000 / REPORT_US
        self.rx_bytes_window = 0
        queueing = 0.0
        for st in self.remote.values():
            if st.recent_transit and st.transit_min is not None:
                queueing = max(queueing, statistics.median(st.recent_transit) - st.transit_min)
            for s, t in list(st.missing.items()):   # NACK once more, then give up
                if now_us - t > 4 * NACK_RETRY_US:
                    del st.missing[s]
                    st.lost_unrecovered += 1
        if self.trend is not None:
            self.estimate_bps = self.trend.update(now_us, recv_bps)
        elif queueing > OVERUSE_MS:
            self.estimate_bps = 0.85 * recv_bps
        else:
            self.estimate_bps = min(self.estimate_bps * 1.08, 1.5 * recv_bps + 1e6)
        self.estimate_bps = max(self.estimate_bps, 50_000.0)
        self.remb_sent.append((now_us, self.estimate_bps))
        ssrcs = sorted(self.remote)
        blocks = [RtcpReceiverInfo(ssrc=s, fraction_lost=0, packets_lost=self.remote[s].lost_unrecovered,
                                   highest_sequence=self.remote[s].highest or 0,
                                   jitter=int(self.remote[s].jitter), lsr=0, dlsr=0) for s in ssrcs]
        rr = RtcpRrPacket(ssrc=self.ssrc, reports=blocks[:31])
        parts = self._twcc_parts() if self.twcc else bytes(RtcpPsfbPacket(
            fmt=15, ssrc=self.ssrc, media_ssrc=0, fci=pack_remb_fci(int(self.estimate_bps), ssrcs)))
        if self.send_log:
            parts += pack_send_log(self.ssrc, self.send_log)
            self.send_log = []
        out = [bytes(rr) + parts]
        for st in self.remote.values():   # NACK retries
            retry = [s for s, t in st.missing.items() if now_us - t >= NACK_RETRY_US]
            if retry:
                out.append(bytes(RtcpRtpfbPacket(fmt=1, ssrc=self.ssrc, media_ssrc=st.ssrc, lost=retry[:64])))
        return out

    def _twcc_parts(self) -> bytes:
        """Transport-cc feedback per sender heard since the last report."""
        parts = b""
        for ssrc, got in sorted(self.tw_arrivals.items()):
            if not got:
                continue
            anchor = min(got.items(), key=lambda kv: kv[1])[0]
            offs = {((s - anchor + 0x8000) & 0xFFFF) - 0x8000: t for s, t in got.items()}
            lo, hi = min(offs), max(offs)
            if hi - lo < 4096:
                self.twcc_fb_count += 1
                parts += pack_feedback(self.ssrc, ssrc, (anchor + lo) & 0xFFFF,
                                       [offs.get(k) for k in range(lo, hi + 1)], self.twcc_fb_count)
            got.clear()
        return parts

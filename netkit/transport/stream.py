"""A sans-I/O reliable, in-order byte stream over datagrams (one direction of data, ACKs back).

Loss recovery follows RFC 9002 (QUIC): every datagram has a new packet number,
ACKs carry packet-number ranges and cumulative ECN counts, a packet is lost when
three later packets are acknowledged or 9/8 RTT has passed since a later one was,
and a probe timeout (PTO) sends probes when ACKs stop. Lost stream bytes are
resent in new packets. Congestion control is pluggable (`netkit.transport.cc`)
and pacing is optional. `StreamSender` and `StreamReceiver` are the two ends.
"""
from __future__ import annotations

from typing import Callable

from netkit.link.packet import NOT_ECT
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram
from netkit.transport.cc import CongestionController, make_controller
from netkit.transport.rtt import RttEstimator
from netkit.transport.wire import (
    ACK, DATA, DATA_FIN, DATA_HEADER, decode_ack, encode_ack, WireError,
)

MSS = MAX_DATAGRAM_PAYLOAD - DATA_HEADER.size  # stream bytes per full-size packet
PACKET_THRESHOLD = 3
MAX_ACK_DELAY_US = 25_000
_ZEROS = bytes(MSS)


class StreamSender:
    """The sending end: writes bytes (or an endless bulk source) and delivers them reliably."""

    def __init__(
        self, cc: str | CongestionController = "cubic", pacing: bool = False, ecn: bool = False,
        bulk: bool = False, initial_rtt_us: int = 100_000,
    ) -> None:
        self.cc = make_controller(cc, MSS) if isinstance(cc, str) else cc
        self.pacing = pacing
        self.ecn_codepoint = self.cc.ecn_codepoint if ecn else NOT_ECT
        self.bulk = bulk
        self.rtt = RttEstimator(initial_rtt_us)
        # skip calls into hooks the controller leaves at the base class's no-op / CE-only behaviour
        self._cc_wants_sent = type(self.cc).on_packet_sent is not CongestionController.on_packet_sent
        self._cc_wants_every_ack_ecn = type(self.cc).on_ce is not CongestionController.on_ce
        self._buf = bytearray()
        self._fin_offset: int | None = None
        self._next_offset = 0
        self._retransmit: list[tuple[int, int, bool]] = []  # (offset, length, fin) to resend
        self._next_pn = 0
        # pn -> [sent time, size, offset, length, fin]; insertion order is packet-number order
        self._sent: dict[int, list] = {}
        self.bytes_in_flight = 0
        self._largest_acked = -1
        self._last_ack_eliciting_sent = 0
        self._loss_time: int | None = None
        self._pto_count = 0
        self._probes = 0
        self._next_send_time = 0
        self._ce_seen = 0
        self.acked_bytes = 0
        self.packets_sent = 0
        self.packets_lost = 0
        self.bytes_retransmitted = 0
        self.done_at: int | None = None  # when every byte up to FIN was acknowledged
        self._fin_was_sent = False

    # -- application side ----------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes to send."""
        if self._fin_offset is not None:
            raise RuntimeError("write() after close()")
        self._buf += data

    def close(self) -> None:
        """No more data: the stream ends after the bytes written so far."""
        if self._fin_offset is None:
            self._fin_offset = len(self._buf)

    @property
    def bytes_written(self) -> int:
        """Bytes the application has written."""
        return len(self._buf)

    # -- sans-I/O interface ----------------------------------------------------------
    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Process an ACK from the receiver."""
        if not data or data[0] != ACK:
            return
        try:
            largest, ack_delay, ecn_counts, ranges = decode_ack(data)
        except WireError:
            return
        self._on_ack(largest, ack_delay, ecn_counts, ranges, now)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Data packets allowed by the window, pacing and probes at `now`."""
        out: list[Datagram] = []
        cc = self.cc
        while True:
            probe = self._probes > 0
            if not probe:
                if self.bytes_in_flight >= cc.cwnd:
                    break
                if self.pacing and now < self._next_send_time:
                    break
            chunk = self._next_chunk(probe)
            if chunk is None:
                break
            offset, length, fin = chunk
            pn = self._next_pn
            self._next_pn += 1
            payload = _ZEROS[:length] if self.bulk else bytes(self._buf[offset:offset + length])
            dgram = DATA_HEADER.pack(DATA_FIN if fin else DATA, pn, offset, now) + payload
            size = len(dgram) + 28
            self._sent[pn] = [now, size, offset, length, fin]
            self.bytes_in_flight += size
            self._last_ack_eliciting_sent = now
            self.packets_sent += 1
            if self._cc_wants_sent:
                cc.on_packet_sent(size, now)
            if probe:
                self._probes -= 1
            if self.pacing:
                rate = cc.pacing_rate(self.rtt.smoothed)
                self._next_send_time = max(self._next_send_time, now) + int(size / rate)
            out.append(Datagram(dgram, self.ecn_codepoint))
        return out

    def get_timer(self) -> int | None:
        """Earliest of: loss-detection time, probe timeout, and the next paced send."""
        if self._loss_time is not None:
            t = self._loss_time
        elif self._sent:
            t = self._pto_deadline()
        else:
            t = None
        if self.pacing and self.bytes_in_flight < self.cc.cwnd and self._has_data():
            if t is None or self._next_send_time < t:
                t = self._next_send_time
        return t

    def handle_timer(self, now: int) -> None:
        """Run time-threshold loss detection or fire a probe timeout."""
        if self._loss_time is not None and now >= self._loss_time:
            self._detect_losses(now)
            return
        if self._sent and self._loss_time is None:
            deadline = self._pto_deadline()
            if now >= deadline:
                self._pto_count += 1
                self._probes = 2

    # -- internals -------------------------------------------------------------------
    def _pto_deadline(self) -> int:
        """When the probe timeout fires: last ack-eliciting send plus the backed-off PTO."""
        return self._last_ack_eliciting_sent + (self.rtt.pto(MAX_ACK_DELAY_US) << self._pto_count)

    def _has_data(self) -> bool:
        if self._retransmit:
            return True
        if self.bulk:
            return True
        return self._next_offset < len(self._buf) or (
            self._fin_offset is not None and self._next_offset == self._fin_offset and not self._fin_was_sent
        )

    def _next_chunk(self, probe: bool) -> tuple[int, int, bool] | None:
        if self._retransmit:
            return self._retransmit.pop(0)
        if self.bulk:
            offset = self._next_offset
            self._next_offset += MSS
            return offset, MSS, False
        end = len(self._buf)
        if self._next_offset < end:
            offset = self._next_offset
            length = min(MSS, end - offset)
            self._next_offset += length
            fin = self._fin_offset is not None and self._next_offset == self._fin_offset
            if fin:
                self._fin_was_sent = True
            return offset, length, fin
        if self._fin_offset is not None and self._next_offset == self._fin_offset and not self._fin_was_sent:
            self._fin_was_sent = True
            return self._next_offset, 0, True
        if probe and self._sent:
            # nothing new: probe by resending the oldest unacknowledged data
            first = next(iter(self._sent.values()))
            return first[2], first[3], first[4]
        return None

    def _on_ack(self, largest: int, ack_delay: int, ecn_counts: tuple[int, int, int], ranges, now: int) -> None:
        sent = self._sent
        prev_largest = self._largest_acked
        acked_bytes = 0
        acked_packets = 0
        newest_sent = -1
        largest_newly_acked = None
        # holes below the previous largest: the only old packets that can be newly acknowledged
        if prev_largest >= 0 and sent:
            holes = []
            for pn in sent:
                if pn > prev_largest:
                    break
                holes.append(pn)
            for pn in holes:
                for lo, hi in ranges:
                    if lo <= pn <= hi:
                        rec = sent.pop(pn)
                        acked_bytes += rec[1]
                        acked_packets += 1
                        self._on_stream_acked(rec)
                        newest_sent = max(newest_sent, rec[0])
                        break
        # packets above the previous largest
        for lo, hi in ranges:
            if hi <= prev_largest:
                continue
            for pn in range(max(lo, prev_largest + 1), hi + 1):
                rec = sent.pop(pn, None)
                if rec is not None:
                    acked_bytes += rec[1]
                    acked_packets += 1
                    self._on_stream_acked(rec)
                    if rec[0] > newest_sent:
                        newest_sent = rec[0]
                    if largest_newly_acked is None or pn > largest_newly_acked[0]:
                        largest_newly_acked = (pn, rec[0])
        if largest > self._largest_acked:
            self._largest_acked = largest
        if not acked_packets:
            return
        self.bytes_in_flight -= acked_bytes
        if largest_newly_acked is not None and largest_newly_acked[0] == largest:
            self.rtt.update(now - largest_newly_acked[1], ack_delay)
        self._pto_count = 0
        self._probes = 0
        ce = ecn_counts[2]
        newly_ce = ce - self._ce_seen
        if newly_ce > 0:
            self._ce_seen = ce
        if newly_ce > 0 or self._cc_wants_every_ack_ecn:
            self.cc.on_ce(max(newly_ce, 0), acked_packets, now, self.rtt.smoothed, newest_sent)
        self.cc.on_ack(acked_bytes, now, self.rtt.smoothed, self.rtt.min, newest_sent)
        self._detect_losses(now)
        if self.done_at is None and self._fin_offset is not None and not sent and not self._retransmit \
                and self._next_offset >= self._fin_offset and self._fin_was_sent:
            self.done_at = now

    def _on_stream_acked(self, rec: list) -> None:
        self.acked_bytes += rec[3]

    def _detect_losses(self, now: int) -> None:
        self._loss_time = None
        largest = self._largest_acked
        if largest < 0:
            return
        rtt = self.rtt
        loss_delay = max(9 * max(rtt.latest, rtt.smoothed) // 8, 1000)
        lost = []
        for pn, rec in self._sent.items():
            if pn > largest:
                break
            if largest - pn >= PACKET_THRESHOLD or rec[0] <= now - loss_delay:
                lost.append(pn)
            else:
                t = rec[0] + loss_delay
                if self._loss_time is None or t < self._loss_time:
                    self._loss_time = t
        if not lost:
            return
        latest_lost_sent = -1
        for pn in lost:
            sent_time, size, offset, length, fin = self._sent.pop(pn)
            self.bytes_in_flight -= size
            self.packets_lost += 1
            self.bytes_retransmitted += length
            self._retransmit.append((offset, length, fin))
            latest_lost_sent = max(latest_lost_sent, sent_time)
        self._retransmit.sort()
        self.cc.on_congestion(latest_lost_sent, now, rtt.smoothed)


class StreamReceiver:
    """The receiving end: acknowledges packets, reassembles bytes in order and hands them on."""

    def __init__(self, on_data: Callable[[bytes, int], None] | None = None, keep_data: bool = False) -> None:
        self.on_data = on_data
        self.keep_data = keep_data
        self.data = bytearray()
        self.delivered = 0  # bytes handed on in order
        self.fin_offset: int | None = None
        self.finished_at: int | None = None
        self._ooo: dict[int, bytes] = {}
        self._ranges: list[list[int]] = []
        self._largest = -1
        self._ecn = [0, 0, 0]  # ECT(0), ECT(1), CE
        self._unacked = 0
        self._ack_deadline: int | None = None
        self._ack_now = False
        self._largest_time = 0

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Take a DATA datagram: record its number and ECN, reassemble, schedule an ACK."""
        if len(data) < DATA_HEADER.size or data[0] not in (DATA, DATA_FIN):
            return
        kind, pn, offset, _ = DATA_HEADER.unpack_from(data)
        if ecn == 0b10:
            self._ecn[0] += 1
        elif ecn == 0b01:
            self._ecn[1] += 1
        elif ecn == 0b11:
            self._ecn[2] += 1
        ranges = self._ranges
        if pn == self._largest + 1 and ranges and ranges[-1][1] + 1 == pn:
            # the common case: the next packet in order extends the newest range
            ranges[-1][1] = pn
            self._largest = pn
            self._largest_time = now
            in_order = True
        else:
            in_order = False
            self._record_pn(pn, now)
        self._unacked += 1
        if not in_order or self._unacked >= 2 or ecn == 0b11:
            self._ack_now = True
        elif self._ack_deadline is None:
            self._ack_deadline = now + MAX_ACK_DELAY_US
        payload = data[DATA_HEADER.size:]
        if kind == DATA_FIN:
            self.fin_offset = offset + len(payload)
        if offset == self.delivered and not self._ooo and payload:
            self._deliver(payload, now)
            if self.fin_offset is not None and self.finished_at is None and self.delivered >= self.fin_offset:
                self.finished_at = now
        else:
            self._reassemble(offset, payload, now)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """An ACK when one is due."""
        if not self._ack_now and (self._ack_deadline is None or now < self._ack_deadline):
            return []
        self._ack_now = False
        self._ack_deadline = None
        self._unacked = 0
        delay = max(0, now - self._largest_time)
        return [Datagram(encode_ack(self._largest, delay, tuple(self._ecn), self._ranges))]

    def get_timer(self) -> int | None:
        """The delayed-ACK deadline."""
        return self._ack_deadline

    def handle_timer(self, now: int) -> None:
        """Delayed ACK fires: the ACK goes out on the next `datagrams_to_send`."""
        if self._ack_deadline is not None and now >= self._ack_deadline:
            self._ack_now = True

    # -- internals -------------------------------------------------------------------
    def _record_pn(self, pn: int, now: int) -> None:
        ranges = self._ranges
        if pn > self._largest:
            self._largest = pn
            self._largest_time = now
        if ranges and ranges[-1][1] + 1 == pn:
            ranges[-1][1] = pn
        elif not ranges or pn > ranges[-1][1]:
            ranges.append([pn, pn])
        else:
            self._insert_old(pn)
        if len(ranges) > 8:
            del ranges[0]

    def _insert_old(self, pn: int) -> None:
        ranges = self._ranges
        for i, (lo, hi) in enumerate(ranges):
            if lo <= pn <= hi:
                return
            if pn == hi + 1:
                ranges[i][1] = pn
                if i + 1 < len(ranges) and ranges[i + 1][0] == pn + 1:
                    ranges[i][1] = ranges[i + 1][1]
                    del ranges[i + 1]
                return
            if pn == lo - 1:
                ranges[i][0] = pn
                return
            if pn < lo:
                ranges.insert(i, [pn, pn])
                return

    def _reassemble(self, offset: int, payload: bytes, now: int) -> None:
        end = offset + len(payload)
        if end <= self.delivered and not (self.fin_offset is not None and self.finished_at is None):
            return
        if offset > self.delivered:
            if offset not in self._ooo or len(self._ooo[offset]) < len(payload):
                self._ooo[offset] = payload
        elif end > self.delivered:
            self._deliver(payload[self.delivered - offset:], now)
            # retransmissions keep their original boundaries, so buffered pieces start exactly here
            while self._ooo:
                chunk = self._ooo.pop(self.delivered, None)
                if chunk is None:
                    break
                self._deliver(chunk, now)
        if self.fin_offset is not None and self.finished_at is None and self.delivered >= self.fin_offset:
            self.finished_at = now

    def _deliver(self, chunk: bytes, now: int) -> None:
        self.delivered += len(chunk)
        if self.keep_data:
            self.data += chunk
        if self.on_data is not None:
            self.on_data(chunk, now)

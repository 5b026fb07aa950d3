"""A sans-I/O reliable, in-order byte stream over datagrams (one direction of data, ACKs back).

Loss recovery follows RFC 9002 (QUIC): every datagram has a new packet number,
ACKs carry packet-number ranges and cumulative ECN counts, a packet is lost when
three later packets are acknowledged or 9/8 RTT has passed since a later one was,
and a probe timeout (PTO) sends probes when ACKs stop. Lost stream bytes are
resent in new packets. Congestion control is pluggable (`netkit.transport.cc`)
and pacing is optional. `StreamSender` and `StreamReceiver` are the two ends.
"""
from __future__ import annotations

import heapq
import struct
from typing import Callable, Final

from netkit.link.packet import NOT_ECT, mypyc_attr
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram, make_datagram
from netkit.transport.cc import CongestionController, make_controller
from netkit.transport.rtt import RttEstimator
from netkit.transport.wire import (
    ACK, DATA, DATA_FIN, DATA_HEADER, AckFrame, DataFrame, decode_ack, encode_ack, WireError,
)

MSS: Final = MAX_DATAGRAM_PAYLOAD - DATA_HEADER.size  # stream bytes per full-size packet
PACKET_THRESHOLD: Final = 3
MAX_ACK_DELAY_US: Final = 25_000
_ZEROS: Final = bytes(MSS)
_HEADER_BYTES: Final = DATA_HEADER.size
_pack_header: Final = DATA_HEADER.pack
# a full-size bulk packet (header and MSS zero bytes) in one call: the same bytes as header + _ZEROS
_pack_full_bulk: Final = struct.Struct(DATA_HEADER.format + f"{MSS}x").pack
_unpack_header: Final = DATA_HEADER.unpack_from
# Acknowledged bytes are cut from the front of the send buffer once this many have accumulated,
# so a long transfer holds only what is unacknowledged or unsent.
TRIM_BYTES: Final = 1 << 16
# The sent-packet table drops its acknowledged prefix once it is this long (and half the table).
_COMPACT_SLOTS: Final = 4096


class SentPacket:
    """One data packet awaiting acknowledgement: when it left, its size and the stream bytes it carries."""

    __slots__ = ("time", "size", "offset", "length", "fin")

    def __init__(self, time: int, size: int, offset: int, length: int, fin: bool) -> None:
        self.time = time
        self.size = size
        self.offset = offset
        self.length = length
        self.fin = fin


@mypyc_attr(allow_interpreted_subclasses=True)  # swiftqueue's marking sender subclasses it
class StreamSender:
    """The sending end: writes bytes (or an endless bulk source) and delivers them reliably.

    Work per packet and per ACK does not grow with the data in flight: sent packets sit in a
    table indexed by packet number (acknowledged slots are cleared, the cleared prefix is
    dropped now and then), lost chunks wait in a heap ordered by stream offset, and the send
    buffer keeps only the bytes from the lowest offset still unacknowledged onwards.
    """

    def __init__(
        self, cc: str | CongestionController = "cubic", pacing: bool = False, ecn: bool = False,
        bulk: bool = False, initial_rtt_us: int = 100_000,
    ) -> None:
        self.cc: CongestionController = make_controller(cc, MSS) if isinstance(cc, str) else cc
        self.pacing = pacing
        self.ecn_codepoint: int = self.cc.ecn_codepoint if ecn else NOT_ECT
        self.bulk = bulk
        # hand the simulator DataFrame objects instead of encoded bytes (set by use_frames)
        self.frames = False
        self.rtt = RttEstimator(initial_rtt_us)
        # skip calls into hooks the controller leaves at the base class's no-op / CE-only behaviour
        self._cc_wants_sent: bool = type(self.cc).on_packet_sent is not CongestionController.on_packet_sent
        self._cc_wants_every_ack_ecn: bool = type(self.cc).on_ce is not CongestionController.on_ce
        self._buf = bytearray()
        self._buf_base = 0  # stream offset of _buf[0]: bytes before it were acknowledged and dropped
        self._fin_offset: int | None = None
        self._next_offset = 0
        self._retransmit: list[tuple[int, int, bool]] = []  # heap of (offset, length, fin) to resend
        # live copies (in flight or waiting for retransmission) of each chunk, by offset, and a lazy
        # min-heap of those offsets: the lowest one bounds what the buffer must keep (not in bulk mode)
        self._copies: dict[int, int] = {}
        self._low: list[int] = []
        self._next_pn = 0
        # sent-packet table: _slots[pn - _base_pn] is the packet or None once acknowledged or lost;
        # _first is the index of the oldest slot that may still be live
        self._slots: list[SentPacket | None] = []
        self._base_pn = 0
        self._first = 0
        self._live = 0
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
            self._fin_offset = self._buf_base + len(self._buf)

    @property
    def bytes_written(self) -> int:
        """Bytes the application has written."""
        return self._buf_base + len(self._buf)

    @property
    def buffered_bytes(self) -> int:
        """Bytes the sender holds: unsent, in flight, or acknowledged but not yet trimmed (< TRIM_BYTES)."""
        return len(self._buf)

    @property
    def unsent_bytes(self) -> int:
        """Bytes written but never sent."""
        return self._buf_base + len(self._buf) - self._next_offset

    @property
    def packets_in_flight(self) -> int:
        """Data packets sent and neither acknowledged nor declared lost."""
        return self._live

    # -- sans-I/O interface ----------------------------------------------------------
    def receive_datagram(self, data: bytes | AckFrame, now: int, ecn: int = 0) -> None:
        """Process an ACK from the receiver."""
        if isinstance(data, AckFrame):
            self._on_ack(data.largest, data.ack_delay, data.ecn_counts, data.ranges, now)
            return
        if not data or data[0] != ACK:
            return
        try:
            largest, ack_delay, ecn_counts, ranges = decode_ack(data)
        except WireError:
            return
        self._on_ack(largest, ack_delay, ecn_counts, ranges, now)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Data packets allowed by the window, pacing and probes at `now`."""
        return [make_datagram(_encoded(data), ecn) for data, ecn, _ in self.payloads_to_send(now)]

    def payloads_to_send(self, now: int) -> list[tuple[bytes | DataFrame, int, int]]:
        """`datagrams_to_send` as (payload, ECN, IP size) tuples; frames if `frames` is set (the simulator's host)."""
        out: list[tuple[bytes | DataFrame, int, int]] = []
        frames = self.frames
        cc = self.cc
        bulk = self.bulk
        slots = self._slots
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
            self._next_pn = pn + 1
            dgram: bytes | DataFrame
            if frames:
                if bulk:
                    dgram = DataFrame(DATA, pn, offset, now, length, None)
                else:
                    start = offset - self._buf_base
                    dgram = DataFrame(DATA_FIN if fin else DATA, pn, offset, now, length,
                                      bytes(self._buf[start:start + length]))
                size = _HEADER_BYTES + length + 28
            else:
                if bulk and length == MSS:
                    dgram = _pack_full_bulk(DATA, pn, offset, now)
                elif bulk:
                    dgram = _pack_header(DATA, pn, offset, now) + _ZEROS[:length]
                else:
                    start = offset - self._buf_base
                    dgram = _pack_header(DATA_FIN if fin else DATA, pn, offset, now) + self._buf[start:start + length]
                size = len(dgram) + 28
            slots.append(SentPacket(now, size, offset, length, fin))
            self._live += 1
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
            out.append((dgram, self.ecn_codepoint, size))
        return out

    def get_timer(self) -> int | None:
        """Earliest of: loss-detection time, probe timeout, and the next paced send."""
        t: int | None
        if self._loss_time is not None:
            t = self._loss_time
        elif self._live:
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
        if self._live and self._loss_time is None:
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
        return self._next_offset < self._buf_base + len(self._buf) or (
            self._fin_offset is not None and self._next_offset == self._fin_offset and not self._fin_was_sent
        )

    def _next_chunk(self, probe: bool) -> tuple[int, int, bool] | None:
        if self._retransmit:
            return heapq.heappop(self._retransmit)
        if self.bulk:
            offset = self._next_offset
            self._next_offset += MSS
            return offset, MSS, False
        end = self._buf_base + len(self._buf)
        if self._next_offset < end:
            offset = self._next_offset
            length = min(MSS, end - offset)
            self._next_offset += length
            fin = self._fin_offset is not None and self._next_offset == self._fin_offset
            if fin:
                self._fin_was_sent = True
            self._new_copy(offset)
            return offset, length, fin
        if self._fin_offset is not None and self._next_offset == self._fin_offset and not self._fin_was_sent:
            self._fin_was_sent = True
            self._new_copy(self._next_offset)
            return self._next_offset, 0, True
        if probe and self._live:
            # nothing new: probe by resending the oldest unacknowledged data
            first = self._oldest_live()
            self._copies[first.offset] += 1
            return first.offset, first.length, first.fin
        return None

    def _new_copy(self, offset: int) -> None:
        """A chunk is sent for the first time: the buffer must keep it until it is acknowledged."""
        self._copies[offset] = 1
        heapq.heappush(self._low, offset)

    def _oldest_live(self) -> SentPacket:
        slots = self._slots
        i = self._first
        while True:
            rec = slots[i]
            if rec is not None:
                return rec
            i += 1

    def _acked(self, rec: SentPacket) -> None:
        """A live packet was acknowledged (its slot is already cleared)."""
        self._live -= 1
        self.acked_bytes += rec.length
        if not self.bulk:
            offset = rec.offset
            left = self._copies[offset] - 1
            if left:
                self._copies[offset] = left
            else:
                del self._copies[offset]

    def _advance_first(self) -> None:
        """Skip cleared slots at the front of the table; drop a long cleared prefix."""
        slots = self._slots
        i = self._first
        n = len(slots)
        while i < n and slots[i] is None:
            i += 1
        if i >= _COMPACT_SLOTS and 2 * i >= n:
            del slots[:i]
            self._base_pn += i
            i = 0
        self._first = i

    def _trim(self) -> None:
        """Drop acknowledged bytes from the front of the send buffer."""
        low = self._low
        copies = self._copies
        while low and low[0] not in copies:
            heapq.heappop(low)
        needed = low[0] if low else self._next_offset
        cut = needed - self._buf_base
        if cut >= TRIM_BYTES:
            del self._buf[:cut]
            self._buf_base = needed

    def _on_ack(self, largest: int, ack_delay: int, ecn_counts: tuple[int, int, int],
                ranges: list[tuple[int, int]], now: int) -> None:
        slots = self._slots
        base = self._base_pn
        nslots = len(slots)
        prev_largest = self._largest_acked
        acked_bytes = 0
        acked_packets = 0
        newest_sent = -1
        largest_newly_acked = -1
        largest_newly_acked_sent = 0
        # holes below the previous largest: the only old packets that can be newly acknowledged
        if prev_largest >= 0 and self._live:
            for i in range(self._first, min(nslots, prev_largest - base + 1)):
                rec = slots[i]
                if rec is None:
                    continue
                pn = i + base
                for lo, hi in ranges:
                    if lo <= pn <= hi:
                        slots[i] = None
                        acked_bytes += rec.size
                        acked_packets += 1
                        self._acked(rec)
                        if rec.time > newest_sent:
                            newest_sent = rec.time
                        break
        # packets above the previous largest
        for lo, hi in ranges:
            if hi <= prev_largest:
                continue
            start = lo if lo > prev_largest + 1 else prev_largest + 1
            if start < base:
                start = base
            for i in range(start - base, min(hi - base + 1, nslots)):
                rec = slots[i]
                if rec is not None:
                    slots[i] = None
                    acked_bytes += rec.size
                    acked_packets += 1
                    self._acked(rec)
                    if rec.time > newest_sent:
                        newest_sent = rec.time
                    if i + base > largest_newly_acked:
                        largest_newly_acked = i + base
                        largest_newly_acked_sent = rec.time
        if largest > self._largest_acked:
            self._largest_acked = largest
        if not acked_packets:
            return
        self._advance_first()
        self.bytes_in_flight -= acked_bytes
        if largest_newly_acked == largest:
            self.rtt.update(now - largest_newly_acked_sent, ack_delay)
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
        if not self.bulk:
            self._trim()
        if self.done_at is None and self._fin_offset is not None and not self._live and not self._retransmit \
                and self._next_offset >= self._fin_offset and self._fin_was_sent:
            self.done_at = now

    def _detect_losses(self, now: int) -> None:
        self._loss_time = None
        largest = self._largest_acked
        if largest < 0:
            return
        rtt = self.rtt
        loss_delay = max(9 * max(rtt.latest, rtt.smoothed) // 8, 1000)
        slots = self._slots
        base = self._base_pn
        lost: list[int] = []
        loss_time = -1
        for i in range(self._first, min(len(slots), largest - base + 1)):
            rec = slots[i]
            if rec is None:
                continue
            if largest - (i + base) >= PACKET_THRESHOLD or rec.time <= now - loss_delay:
                lost.append(i)
            else:
                t = rec.time + loss_delay
                if loss_time < 0 or t < loss_time:
                    loss_time = t
        if loss_time >= 0:
            self._loss_time = loss_time
        if not lost:
            return
        latest_lost_sent = -1
        retransmit = self._retransmit
        for i in lost:
            rec = slots[i]
            assert rec is not None
            slots[i] = None
            self._live -= 1
            self.bytes_in_flight -= rec.size
            self.packets_lost += 1
            self.bytes_retransmitted += rec.length
            heapq.heappush(retransmit, (rec.offset, rec.length, rec.fin))
            if rec.time > latest_lost_sent:
                latest_lost_sent = rec.time
        self._advance_first()
        self.cc.on_congestion(latest_lost_sent, now, rtt.smoothed)


@mypyc_attr(allow_interpreted_subclasses=True)
class StreamReceiver:
    """The receiving end: acknowledges packets, reassembles bytes in order and hands them on."""

    def __init__(self, on_data: Callable[[bytes, int], None] | None = None, keep_data: bool = False) -> None:
        self.on_data = on_data
        self.keep_data = keep_data
        self.frames = False  # send AckFrame objects instead of encoded bytes (set by use_frames)
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

    def receive_datagram(self, data: bytes | DataFrame, now: int, ecn: int = 0) -> None:
        """Take a DATA datagram: record its number and ECN, reassemble, schedule an ACK."""
        if isinstance(data, DataFrame):
            self._on_data(data.kind, data.pn, data.offset, data.length, data, now, ecn)
            return
        if len(data) < _HEADER_BYTES or data[0] not in (DATA, DATA_FIN):
            return
        kind, pn, offset, _ = _unpack_header(data)
        self._on_data(kind, pn, offset, len(data) - _HEADER_BYTES, data, now, ecn)

    def _on_data(self, kind: int, pn: int, offset: int, length: int, src: bytes | DataFrame, now: int,
                 ecn: int) -> None:
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
        if kind == DATA_FIN:
            self.fin_offset = offset + length
        if offset == self.delivered and not self._ooo and length:
            if self.on_data is None and not self.keep_data:
                self.delivered += length  # in order and nobody reads the bytes: count them
            else:
                self._deliver(_payload(src), now)
            if self.fin_offset is not None and self.finished_at is None and self.delivered >= self.fin_offset:
                self.finished_at = now
        else:
            self._reassemble(offset, _payload(src), now)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """An ACK when one is due."""
        return [make_datagram(_encoded(data), ecn) for data, ecn, _ in self.payloads_to_send(now)]

    def payloads_to_send(self, now: int) -> list[tuple[bytes | AckFrame, int, int]]:
        """`datagrams_to_send` as (payload, ECN, IP size) tuples; frames if `frames` is set (the simulator's host)."""
        if not self._ack_now and (self._ack_deadline is None or now < self._ack_deadline):
            return []
        self._ack_now = False
        self._ack_deadline = None
        self._unacked = 0
        delay = max(0, now - self._largest_time)
        ack: bytes | AckFrame
        if self.frames:
            ack = AckFrame(self._largest, delay, (self._ecn[0], self._ecn[1], self._ecn[2]), self._ranges)
        else:
            ack = encode_ack(self._largest, delay, (self._ecn[0], self._ecn[1], self._ecn[2]), self._ranges)
        return [(ack, 0, len(ack) + 28)]

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


def use_frames(sender: object, receiver: object) -> bool:
    """Let the two ends of one simulated flow exchange frame objects instead of encoded datagrams.

    A `DataFrame` / `AckFrame` has the fields and the `len()` of the datagram it stands for, so
    the run is the same, without packing and parsing every packet. Only for the exact classes (a
    subclass may read the bytes) and only when they talk to nobody else (the simulator's
    topologies call this per flow). True if enabled.
    """
    if type(sender) is StreamSender and type(receiver) is StreamReceiver:
        sender.frames = True
        receiver.frames = True
        return True
    return False


def _payload(src: bytes | DataFrame) -> bytes:
    """The stream bytes of a DATA datagram, encoded or as a frame."""
    if isinstance(src, DataFrame):
        return src.data()
    return src[_HEADER_BYTES:]


def _encoded(data: bytes | DataFrame | AckFrame) -> bytes:
    """A datagram's bytes, whichever form it is in."""
    if isinstance(data, bytes):
        return data
    return data.to_bytes()

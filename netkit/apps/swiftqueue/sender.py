"""The marking sender, sans-I/O: a Prague stream whose every packet carries ECT(1) (L queue) or ECT(0) (C queue).

`MarkingSender` is netkit's reliable stream (`netkit.transport.stream.StreamSender`)
with three changes that per-packet queue selection needs:

- **Per-packet ECN.** A `MarkingPolicy` chooses the queue of each packet as it leaves.
- **Time-based loss detection, RACK per queue.** Packets of one flow overtake each
  other between the two queues, so packet-number reordering says nothing about loss.
  Each queue keeps its own RACK state: the newest-sent packet of that queue acknowledged
  so far and its RTT (RFC 8985's RACK.xmit_ts and RACK.rtt). A packet is lost when a
  later-sent packet *of its own queue* was acknowledged and it has been out longer than
  that packet's RTT plus a reordering window: both queues are FIFO, and that RTT is as
  fresh as the evidence. Evidence from the other queue only (a later-sent packet of the
  other queue acknowledged) is normal overtaking, not a hint of loss, and the packet's own
  queue may have slowed since its last RTT sample (a queue the flow left a second ago, a
  burst arriving): such a packet is lost only after four times the larger queue's RTT
  estimate, 200 ms at least (Linux's minimum RTO). That case is the tail of a run of
  packets in one queue; a lost packet followed by later ones in its queue is found by RACK.
  A packet declared lost and acknowledged afterwards counts as a spurious retransmission
  and doubles the window.
- **CE from either queue.** ACKs carry cumulative ECT(0)/ECT(1)/CE counts. The sender
  knows how many packets of each codepoint were acknowledged, so the ECT(0) packets
  that did not arrive as ECT(0) are the C queue's CE marks. `DualQueuePrague` gives
  L-queue CE Prague's scalable response and C-queue CE the classic one (halve once
  per round trip), as RFC 9331 asks of a scalable sender whose packets met a classic AQM.

Every newly acknowledged packet becomes a `Feedback` sample (send time, ACK time,
size, queue, RTT): what the predictor learns from.
"""
from __future__ import annotations

import heapq
from typing import NamedTuple, Protocol

from netkit.link.packet import ECT0, ECT1
from netkit.transport.base import Datagram, earliest
from netkit.transport.prague import Prague
from netkit.transport.rtt import RttEstimator
from netkit.transport.stream import MSS, StreamReceiver, StreamSender
from netkit.transport.wire import ACK, WireError, decode_ack


MIN_REORDER_US = 1000
CROSS_QUEUE_FACTOR = 4  # evidence from the other queue only: wait this many of the larger queue's RTTs,
CROSS_QUEUE_MIN_US = 200_000  # and at least this long (Linux's minimum RTO)
FORGET_US = 3_000_000  # unacknowledged-packet notes older than this are dropped (bounded memory)


class Feedback(NamedTuple):
    """What one ACK teaches the sender about one packet."""

    ack_us: int
    sent_us: int
    size: int
    in_l: bool
    rtt_us: int


class MarkingPolicy(Protocol):
    """Chooses the queue of each packet and learns from feedback (see `netkit.apps.swiftqueue.policy`); a policy
    may also have `prepare(now, at)`, which the sender calls after each ACK with the time its next packet is due."""

    def choose(self, now: int) -> bool:
        """True: send the next packet in the L queue (ECT(1)); False: in the C queue (ECT(0))."""

    def observe(self, sample: Feedback) -> None:
        """A packet was newly acknowledged."""


class DualQueuePrague(Prague):
    """Prague that answers CE from the L queue with its scalable response and CE from the C queue like Reno.

    The sender sets `classic_ce` (how many of the CE marks in the coming ACK came from
    the C queue) before handing the ACK to the stream.
    """

    name = "prague-dualq"

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.classic_ce = 0
        self.classic_ce_events = 0

    def on_ce(self, newly_ce: int, acked_packets: int, now: int, rtt_us: int, newest_sent: int) -> None:
        """Split the ACK's CE marks: classic ones halve (once per RTT), L4S ones feed alpha."""
        classic = min(self.classic_ce, newly_ce)
        self.classic_ce = 0
        if classic and newest_sent > self.recovery_start:
            self.classic_ce_events += 1
        if classic:
            self.on_congestion(newest_sent, now, rtt_us, ce=True)
        super().on_ce(newly_ce - classic, acked_packets, now, rtt_us, newest_sent)


class _Note:
    """What the sender remembers of a sent packet until it is acknowledged (or forgotten)."""

    __slots__ = ("sent", "size", "in_l", "lost")

    def __init__(self, sent: int, size: int, in_l: bool) -> None:
        self.sent = sent
        self.size = size
        self.in_l = in_l
        self.lost = False


class MarkingSender(StreamSender):
    """A Prague stream that marks each packet for the L or C queue (see the module docstring).

    rate_mbps > 0 makes it application-limited: the application writes MSS-sized chunks at
    that rate (stream bytes), like a real-time source; 0 makes it a bulk flow.
    """

    def __init__(self, policy: MarkingPolicy, rate_mbps: float = 0.0, start_us: int = 0,
                 initial_rtt_us: int = 100_000, keep_feedback: bool = True) -> None:
        super().__init__(DualQueuePrague(MSS), pacing=True, ecn=True, bulk=rate_mbps <= 0,
                         initial_rtt_us=initial_rtt_us)
        self.policy = policy
        self.rate_mbps = rate_mbps
        self._start = start_us
        self._chunks_written = 0
        self._notes: dict[int, _Note] = {}
        self._order: list[int] = []  # heap of pns with notes, for forgetting old ones
        self.queue_rtt = {True: RttEstimator(initial_rtt_us), False: RttEstimator(initial_rtt_us)}
        # per-queue RACK: send time and RTT of the newest-sent acknowledged packet
        self.rack_sent = {True: -1, False: -1}
        self.rack_rtt = {True: 0, False: 0}
        self.reorder_us = MIN_REORDER_US
        self._acked_ect0 = 0
        self._classic_ce_seen = 0
        self.feedback: list[Feedback] = []
        self.keep_feedback = keep_feedback
        self.sent_l = 0
        self.sent_c = 0
        self.spurious_retransmits = 0

    # -- application-limited source ------------------------------------------------------------
    def _chunk_due(self, k: int) -> int:
        """When chunk k (0-based) of the application-limited source is written (µs)."""
        return self._start + int(k * MSS * 8 / self.rate_mbps)

    def _write_due(self, now: int) -> None:
        if self.rate_mbps <= 0:
            return
        n = 0
        while self._chunk_due(self._chunks_written + n) <= now:
            n += 1
        if n:
            self.write(bytes(MSS * n))
            self._chunks_written += n

    # -- sans-I/O interface --------------------------------------------------------------------
    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """The stream's packets, each given the ECN codepoint of the queue the policy chose."""
        self._write_due(now)
        out = super().datagrams_to_send(now)
        if not out:
            return out
        marked = []
        for d in out:
            pn = int.from_bytes(d.data[1:9], "big")
            in_l = self.policy.choose(now)
            self._notes[pn] = _Note(now, len(d.data) + 28, in_l)
            heapq.heappush(self._order, pn)
            if in_l:
                self.sent_l += 1
            else:
                self.sent_c += 1
            marked.append(Datagram(d.data, ECT1 if in_l else ECT0))
        return marked

    def get_timer(self) -> int | None:
        """The stream's timers and the application source's next write."""
        t = super().get_timer()
        if self.rate_mbps > 0:
            t = earliest(t, self._chunk_due(self._chunks_written))
        return t

    def handle_timer(self, now: int) -> None:
        """Write due application data, then the stream's own timers."""
        self._write_due(now)
        super().handle_timer(now)

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Learn from the ACK (feedback samples, per-queue RTTs, C-queue CE), then let the stream process it."""
        if data and data[0] == ACK:
            try:
                _, _, ecn_counts, ranges = decode_ack(data)
            except WireError:
                return
            self._learn(ranges, ecn_counts, now)
        super().receive_datagram(data, now, ecn)
        self._forget(now)
        prepare = getattr(self.policy, "prepare", None)
        if prepare is not None and self.rate_mbps > 0:  # the source's next write: when the next packet is due
            prepare(now, max(now, self._chunk_due(self._chunks_written)))

    # -- internals -----------------------------------------------------------------------------
    def _learn(self, ranges: list[tuple[int, int]], ecn_counts: tuple[int, int, int], now: int) -> None:
        notes = self._notes
        newly = [pn for pn in notes if any(lo <= pn <= hi for lo, hi in ranges)]
        newly.sort()
        for pn in newly:
            note = notes.pop(pn)
            if note.lost:
                self.spurious_retransmits += 1
                self.reorder_us = min(2 * self.reorder_us, max(self.rtt.smoothed, MIN_REORDER_US))
            if not note.in_l:
                self._acked_ect0 += 1
            rtt = now - note.sent
            q = note.in_l
            self.queue_rtt[q].update(rtt)
            if note.sent >= self.rack_sent[q]:
                self.rack_sent[q] = note.sent
                self.rack_rtt[q] = rtt
            sample = Feedback(now, note.sent, note.size, note.in_l, rtt)
            if self.keep_feedback:
                self.feedback.append(sample)
            self.policy.observe(sample)
        classic_total = max(self._acked_ect0 - ecn_counts[0], 0)
        if classic_total > self._classic_ce_seen:
            self.cc.classic_ce = classic_total - self._classic_ce_seen  # type: ignore[attr-defined]
            self._classic_ce_seen = classic_total

    def _forget(self, now: int) -> None:
        order = self._order
        notes = self._notes
        while order and (order[0] not in notes or now - notes[order[0]].sent > FORGET_US):
            notes.pop(heapq.heappop(order), None)

    def _loss_deadline(self, sent: int, in_l: bool | None) -> int:
        """When a packet sent at `sent` into queue `in_l` is lost, given that a later-sent packet was acknowledged."""
        if in_l is not None and self.rack_sent[in_l] > sent:  # a later packet of the same FIFO queue got through
            return sent + self.rack_rtt[in_l] + self.reorder_us
        # evidence from the other queue only (or a forgotten note): overtaking by the other queue is normal, and
        # this queue's RTT may have grown since its last sample: wait like a retransmission timeout
        est = max(max(e.latest, e.smoothed) if e.has_sample else max(self.rtt.latest, self.rtt.smoothed)
                  for e in self.queue_rtt.values())
        return sent + max(CROSS_QUEUE_FACTOR * est, CROSS_QUEUE_MIN_US) + self.reorder_us

    def _detect_losses(self, now: int) -> None:
        """RACK per queue: time-based only, no packet-count threshold (see the module docstring)."""
        self._loss_time = None
        largest = self._largest_acked
        if largest < 0:
            return
        slots = self._slots
        base = self._base_pn
        notes = self._notes
        lost: list[int] = []
        loss_time = -1
        for i in range(self._first, min(len(slots), largest - base + 1)):
            rec = slots[i]
            if rec is None:
                continue
            note = notes.get(i + base)
            deadline = self._loss_deadline(rec.time, note.in_l if note is not None else None)
            if now >= deadline:
                lost.append(i)
                if note is not None:
                    note.lost = True
            elif loss_time < 0 or deadline < loss_time:
                loss_time = deadline
        if loss_time >= 0:
            self._loss_time = loss_time
        if not lost:
            return
        latest_lost_sent = -1
        for i in lost:
            rec = slots[i]
            assert rec is not None
            slots[i] = None
            self._live -= 1
            self.bytes_in_flight -= rec.size
            self.packets_lost += 1
            self.bytes_retransmitted += rec.length
            heapq.heappush(self._retransmit, (rec.offset, rec.length, rec.fin))
            latest_lost_sent = max(latest_lost_sent, rec.time)
        self._advance_first()
        self.cc.on_congestion(latest_lost_sent, now, self.rtt.smoothed)


class AckEveryReceiver(StreamReceiver):
    """The stream receiver, acknowledging every packet at once (each ACK is a fresh latency sample)."""

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Take the packet and make the ACK due now."""
        super().receive_datagram(data, now, ecn)
        self._ack_now = True

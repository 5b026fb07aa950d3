"""The marking sender: reordering between the queues is not loss; CE from either queue gets its own response."""
from __future__ import annotations

import heapq

from netkit.apps.swiftqueue.policy import FixedPolicy
from netkit.apps.swiftqueue.sender import AckEveryReceiver, DualQueuePrague, MarkingSender
from netkit.link.packet import CE, ECT0, ECT1
from netkit.transport.stream import MSS, StreamReceiver, StreamSender


class Alternate:
    """Blocks of `n` packets in L, then `n` in C."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.k = 0

    def choose(self, now: int) -> bool:
        self.k += 1
        return (self.k // self.n) % 2 == 0

    def observe(self, sample) -> None:
        pass


def run_two_queue_path(sender, receiver, duration_us: int, l_delay_us: int, c_delay_us: int,
                       ack_delay_us: int = 10_000, ce_queue: str | None = None,
                       c_delay_after: tuple[int, int] | None = None, drop=None) -> None:
    """A path whose ECT(1) packets take l_delay and ECT(0) packets c_delay (so L overtakes C).

    c_delay_after=(t, d): C packets sent from time t on take d instead. drop(pn, in_l): True drops the packet."""
    events: list = []
    seq = 0

    def push(t, kind, data=None, ecn=0):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, data, ecn))
        seq += 1

    now = 0
    while now < duration_us:
        for d in sender.datagrams_to_send(now):
            in_l = d.ecn == ECT1
            ecn = d.ecn
            if ce_queue == ("L" if in_l else "C"):
                ecn = CE
            # without ECN (plain stream sender) packet numbers pick the queue: blocks of 4
            if d.ecn not in (ECT0, ECT1):
                in_l = (int.from_bytes(d.data[1:9], "big") // 4) % 2 == 0
            if drop is not None and drop(int.from_bytes(d.data[1:9], "big"), in_l):
                continue
            c_delay = c_delay_us if c_delay_after is None or now < c_delay_after[0] else c_delay_after[1]
            push(now + (l_delay_us if in_l else c_delay), "data", d.data, ecn)
        for a in receiver.datagrams_to_send(now):
            push(now + ack_delay_us, "ack", a.data)
        timers = [t for t in (sender.get_timer(), receiver.get_timer()) if t is not None]
        nxt = min([events[0][0]] + timers if events else timers or [duration_us])
        now = max(now, min(nxt, duration_us))
        if sender.get_timer() is not None and sender.get_timer() <= now:
            sender.handle_timer(now)
        if receiver.get_timer() is not None and receiver.get_timer() <= now:
            receiver.handle_timer(now)
        while events and events[0][0] <= now:
            _, _, kind, data, ecn = heapq.heappop(events)
            if kind == "data":
                receiver.receive_datagram(data, now, ecn)
            else:
                sender.receive_datagram(data, now)


def test_l_overtaking_c_by_15ms_is_not_loss():
    snd = MarkingSender(Alternate(4), rate_mbps=4.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 3_000_000, l_delay_us=10_000, c_delay_us=25_000)
    assert snd.sent_l > 100 and snd.sent_c > 100
    assert snd.packets_lost == 0
    assert snd.spurious_retransmits == 0
    assert snd.bytes_retransmitted == 0
    assert rcv.delivered >= 0.9 * 4e6 / 8 * 2.9 // MSS * MSS  # it kept up with the 4 Mbit/s source


class Phases:
    """Both queues alternately until 0.5 s, then L only until 2 s, then C with one L probe every 100 ms."""

    def __init__(self) -> None:
        self.k = 0
        self.last_probe = 0

    def choose(self, now: int) -> bool:
        self.k += 1
        if now < 500_000:
            return (self.k // 4) % 2 == 0
        if now < 2_000_000:
            return True
        if now - self.last_probe >= 100_000:
            self.last_probe = now
            return True
        return False

    def observe(self, sample) -> None:
        pass


def test_returning_to_a_queue_that_slowed_while_unused_is_not_loss():
    """The C queue's RTT estimate is 35 ms when the flow leaves it; it is 160 ms when the flow returns, and the L
    probes sent after the first C packets are acknowledged before them: a stale per-queue RTT must not turn the C
    packets into losses (the first version declared them lost after 9/8 of 35 ms)."""
    snd = MarkingSender(Phases(), rate_mbps=4.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 3_500_000, l_delay_us=10_000, c_delay_us=25_000, c_delay_after=(1_000_000, 150_000))
    assert snd.sent_c > 300 and snd.sent_l > 300
    assert snd.spurious_retransmits == 0
    assert snd.packets_lost == 0
    assert snd.bytes_retransmitted == 0


def test_a_lost_packet_in_either_queue_is_still_detected():
    """One C packet and one L packet dropped while both queues are in use: both found lost (RACK in their own
    queue), retransmitted, and every byte delivered; nothing spurious."""
    dropped: set[bool] = set()

    def drop(pn: int, in_l: bool) -> bool:  # the first L and the first C packet among packets 60..67
        if 60 <= pn < 68 and in_l not in dropped:
            dropped.add(in_l)
            return True
        return False

    snd = MarkingSender(Alternate(4), rate_mbps=4.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 2_000_000, l_delay_us=10_000, c_delay_us=25_000, drop=drop)
    assert dropped == {True, False}
    assert snd.packets_lost == 2
    assert snd.spurious_retransmits == 0
    assert rcv.delivered >= 0.9 * 4e6 / 8 * 1.9 // MSS * MSS


class Switch:
    """C until `at`, then L."""

    def __init__(self, at: int) -> None:
        self.at = at

    def choose(self, now: int) -> bool:
        return now >= self.at

    def observe(self, sample) -> None:
        pass


def test_a_lost_last_packet_of_a_queue_is_found_on_the_other_queues_evidence():
    """The last C packet before the flow moves to L is dropped: no later C packet ever arrives, so only the L
    packets' acknowledgements tell; it is declared lost after the cross-queue wait (>= 200 ms) and resent."""
    snd = MarkingSender(Switch(500_000), rate_mbps=4.0)
    rcv = AckEveryReceiver()
    sent_c: list[int] = []

    def drop(pn: int, in_l: bool) -> bool:
        if not in_l:
            sent_c.append(pn)
        return False

    run_two_queue_path(snd, rcv, 2_000_000, 10_000, 25_000, drop=drop)  # the same run without loss: which pn
    last_c = max(sent_c)
    assert snd.packets_lost == 0
    snd = MarkingSender(Switch(500_000), rate_mbps=4.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 2_000_000, 10_000, 25_000, drop=lambda pn, in_l: pn == last_c)
    assert snd.packets_lost == 1
    assert snd.spurious_retransmits == 0
    assert rcv.delivered >= 0.9 * 4e6 / 8 * 1.9 // MSS * MSS


def test_plain_stream_takes_the_same_reordering_for_loss():
    """The same path breaks the packet-threshold detector of the ordinary stream (why RACK-like is needed)."""
    snd = StreamSender("prague", pacing=True, ecn=False, bulk=True)
    rcv = StreamReceiver()
    run_two_queue_path(snd, rcv, 2_000_000, l_delay_us=10_000, c_delay_us=25_000)
    assert snd.packets_lost > 0


def test_ce_from_c_queue_halves_once_per_rtt_like_classic():
    snd = MarkingSender(FixedPolicy(False), rate_mbps=0.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 1_000_000, 10_000, 10_000, ce_queue="C")
    cc = snd.cc
    assert isinstance(cc, DualQueuePrague)
    assert cc.classic_ce_events > 0
    assert cc.ce_events >= cc.classic_ce_events


def test_ce_from_l_queue_takes_the_scalable_response():
    snd = MarkingSender(FixedPolicy(True), rate_mbps=0.0)
    rcv = AckEveryReceiver()
    run_two_queue_path(snd, rcv, 1_000_000, 10_000, 10_000, ce_queue="L")
    cc = snd.cc
    assert cc.classic_ce_events == 0
    assert cc.ce_events > 0
    assert cc.alpha_updates > 0


def test_dual_queue_prague_splits_marks():
    cc = DualQueuePrague(MSS)
    cc.ssthresh = cc.cwnd = 100 * MSS
    cc.alpha = 0.1
    before = cc.cwnd
    cc.classic_ce = 1
    cc.on_ce(1, 10, 100_000, 20_000, 50_000)
    assert cc.cwnd == before * 0.5  # classic CE: Reno's halving, not Prague's alpha/2
    cc2 = DualQueuePrague(MSS)
    cc2.ssthresh = cc2.cwnd = 100 * MSS
    cc2.alpha = 0.1
    cc2.on_ce(1, 10, 100_000, 20_000, 50_000)
    assert cc2.cwnd == before * (1 - 0.1 / 2)

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
                       ack_delay_us: int = 10_000, ce_queue: str | None = None) -> None:
    """A lossless path whose ECT(1) packets take l_delay and ECT(0) packets c_delay (so L overtakes C)."""
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
            push(now + (l_delay_us if in_l else c_delay_us), "data", d.data, ecn)
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

"""TraceLink against hand-computed mm-link departures, one test per Mahimahi rule."""
import pytest

from netkit.link import DropHeadQueue, DropTailQueue, LinkLog, Packet, PacketTooLarge, TraceLink
from netkit.trace import Trace

MS = 1000  # µs per ms


def run(link, arrivals, until_ms=1000):
    """Feed (time_us, ip_size) arrivals; return (departure ms, uid) in order."""
    out = []
    for i, (t, size) in enumerate(arrivals):
        out += link.dequeue(t)
        link.enqueue(Packet(size, uid=i), t)
    while (nt := link.next_time()) is not None and nt <= until_ms * MS:
        out += link.dequeue(nt)
    return [(t // MS, p.uid) for t, p in out]


def test_full_packet_uses_one_opportunity():
    link = TraceLink(Trace((1, 2, 3, 4)))
    # 1500 IP bytes + 4 = 1504: exactly one opportunity each
    assert run(link, [(0, 1500), (0, 1500), (0, 1500)]) == [(1, 0), (2, 1), (3, 2)]


def test_several_packets_in_one_opportunity_and_one_spanning():
    link = TraceLink(Trace((1, 2, 3)))
    # 700 + 4 = 704 bytes each: two fit in 1504 (1408), the third has 96 bytes in opportunity 1
    # and its remaining 608 bytes in opportunity 2, so it leaves at 2 ms
    assert run(link, [(0, 700), (0, 700), (0, 700)]) == [(1, 0), (1, 1), (2, 2)]


def test_packet_spanning_from_partial_opportunity_then_next_packet_shares_it():
    link = TraceLink(Trace((1, 2, 3)))
    # 1000+4 fills 1004 of opp 1; 1500+4: 500 in opp 1, 1004 in opp 2; 300+4: 304 of the 500 left in opp 2
    assert run(link, [(0, 1000), (0, 1500), (0, 300)]) == [(1, 0), (2, 1), (2, 2)]


def test_repeated_lines_are_several_opportunities_in_one_millisecond():
    link = TraceLink(Trace((5, 5, 5, 10)))
    assert run(link, [(0, 1500)] * 4) == [(5, 0), (5, 1), (5, 2), (10, 3)]


def test_strictly_later_rule():
    # opportunities every ms; a packet arriving during ms 3 cannot use the opportunity at 3
    link = TraceLink(Trace(tuple(range(1, 11))))
    assert run(link, [(3 * MS, 1500)]) == [(4, 0)]
    link = TraceLink(Trace(tuple(range(1, 11))))
    assert run(link, [(3 * MS - 1, 1500)]) == [(3, 0)]  # still ms 2: the opportunity at 3 serves it
    link = TraceLink(Trace(tuple(range(1, 11))))
    assert run(link, [(3 * MS + 999, 1500)]) == [(4, 0)]  # anywhere in ms 3


def test_unused_bytes_are_lost_not_saved():
    link = TraceLink(Trace(tuple(range(1, 21))))
    # a 100-byte packet leaves at 1 ms using 104 of 1504 bytes; the rest of that opportunity is gone,
    # and the idle opportunities 2..9 are not banked for the burst that arrives at 9.5 ms
    got = run(link, [(0, 100), (9500, 1500), (9500, 1500), (9500, 1500)])
    assert got == [(1, 0), (10, 1), (11, 2), (12, 3)]


def test_trace_wraps_with_base_advancing_by_last_timestamp():
    link = TraceLink(Trace((5, 10)))
    # opportunities: 5, 10, then 15, 20, then 25, 30 ...
    assert run(link, [(12 * MS, 1500), (12 * MS, 1500), (12 * MS, 1500)]) == [(15, 0), (20, 1), (25, 2)]


def test_wrap_with_zero_timestamp_lands_on_the_period():
    link = TraceLink(Trace((0, 10)))
    # loop 0: 0, 10; loop 1: 10 (base 10 + 0), 20; so two opportunities at 10 ms
    assert run(link, [(5 * MS, 1500), (5 * MS, 1500), (5 * MS, 1500)]) == [(10, 0), (10, 1), (20, 2)]


def test_droptail_limits_drop_the_arrival():
    link = TraceLink(Trace(tuple(range(1, 11))), DropTailQueue(packets=2))
    assert run(link, [(0, 1500)] * 4) == [(1, 0), (2, 1)]
    assert link.stats.packets_dropped == 2
    link = TraceLink(Trace(tuple(range(1, 11))), DropTailQueue(bytes=3100))  # two 1504s fit, three do not
    assert run(link, [(0, 1500)] * 3) == [(1, 0), (2, 1)]


def test_drophead_drops_from_the_front():
    link = TraceLink(Trace(tuple(range(1, 11))), DropHeadQueue(packets=2))
    assert run(link, [(0, 1500)] * 4) == [(1, 2), (2, 3)]


def test_packet_in_transit_is_not_in_the_queue():
    # mm-link dequeues a packet when it starts transmitting, so it no longer counts against the limit
    link = TraceLink(Trace((1, 2, 3, 4, 5)), DropTailQueue(packets=2))
    # A (1000) leaves at 1 ms; B (1500) starts in the 500 bytes left of opportunity 1 and is in
    # transit until 2 ms. C and D arrive during ms 1: the queue holds 0 packets (B is in transit),
    # so both fit; if B counted, D would be dropped.
    got = run(link, [(0, 1000), (0, 1500), (1500, 1500), (1500, 1500)])
    assert got == [(1, 0), (2, 1), (3, 2), (4, 3)]
    assert link.stats.packets_dropped == 0


def test_oversized_packet_rejected():
    with pytest.raises(PacketTooLarge):
        TraceLink(Trace((1,))).enqueue(Packet(1501), 0)


def test_log_lines(tmp_path):
    log = LinkLog(tmp_path / "down.log", ["mahimahi mm-link (downlink)"])
    link = TraceLink(Trace((2, 4)), DropTailQueue(packets=1), log=log)
    run(link, [(0, 1500), (0, 1500), (0, 1000)], until_ms=4)
    link.dequeue(4 * MS)  # an idle opportunity is logged too
    log.close()
    lines = (tmp_path / "down.log").read_text().splitlines()
    # limit 1: the first packet waits in the queue, so both later arrivals are dropped
    assert lines == [
        "# mahimahi mm-link (downlink)",
        "0 + 1504",
        "0 + 1504",
        "0 d 1 1504",
        "0 + 1004",
        "0 d 1 1004",
        "2 # 1504",
        "2 - 1504 2",
        "4 # 1504",
    ]
    assert not list(tmp_path.glob(".*partial"))

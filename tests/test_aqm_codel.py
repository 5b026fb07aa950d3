"""CoDel with Mahimahi's codel_packet_queue.cc semantics."""
from __future__ import annotations

import math

import pytest
from aqm_helpers import check_bad_spec, check_conservation, offer, operations, pkt
from hypothesis import given, settings

from netkit.link.codel import CoDelQueue
from netkit.link.queues import make_queue

MS = 1000


def drain_every_ms(q: CoDelQueue, until_ms: int) -> dict[int, list[int]]:
    """Dequeue once per ms from 1 ms; return {ms: uids dropped} for the ms that dropped."""
    drops = {}
    for t in range(1, until_ms + 1):
        out, lost = q.dequeue(t * MS)
        assert out is not None
        if lost:
            drops[t] = [p.uid for p in lost]
    return drops


def standing_queue(n: int = 600) -> tuple[CoDelQueue, list]:
    q = CoDelQueue(packets=1000, target=5, interval=100)
    packets = [pkt() for _ in range(n)]
    for p in packets:
        offer(q, p, 0)
    return q, packets


def test_registered_and_described() -> None:
    q = make_queue("codel:packets=100,target=5,interval=100")
    assert isinstance(q, CoDelQueue)
    assert q.describe() == "codel [packets=100]"
    both = make_queue("codel:bytes=3000,packets=2,target=5,interval=100")
    assert both.describe() == "codel [bytes=3000, packets=2]"


def test_first_drop_only_after_target_exceeded_for_an_interval() -> None:
    q, _ = standing_queue()
    drops = drain_every_ms(q, 110)
    # Sojourn reaches target (5 ms) at t=5, so first_above_time = 105: nothing may go before.
    assert q.dropping
    assert list(drops) == [105]


def test_control_law_spacing() -> None:
    q, _ = standing_queue()
    drops = drain_every_ms(q, 470)
    # Entering at 105 with count 1: next drop 105 + 100/sqrt(1); then drop_next += int(100/sqrt(count)).
    expected = [105, 205]
    count = 2
    while True:
        nxt = expected[-1] + int(100 / math.sqrt(count))
        if nxt > 470:
            break
        expected.append(nxt)
        count += 1
    assert expected[:6] == [105, 205, 275, 332, 382, 426]
    assert list(drops) == expected
    assert all(len(v) == 1 for v in drops.values())
    assert q.count == len(expected)  # one per drop while dropping
    assert q.control_law(1000, 4) == 1050


def test_drop_takes_the_packet_behind_the_head() -> None:
    q, packets = standing_queue()
    for t in range(1, 105):
        q.dequeue(t * MS)
    out, lost = q.dequeue(105 * MS)
    # Mahimahi sends the head and drops the next one (its dequeue must return a packet).
    assert out is packets[104]
    assert lost == [packets[105]]


def test_brief_excursion_above_target_drops_nothing() -> None:
    q = CoDelQueue(packets=1000, target=5, interval=100)
    for _ in range(50):
        offer(q, pkt(), 0)
    assert drain_every_ms(q, 50) == {}
    assert len(q) == 0 and not q.dropping


def test_no_drop_with_at_most_one_packet_left() -> None:
    q = CoDelQueue(packets=10, target=5, interval=100)
    for _ in range(3):
        offer(q, pkt(), 0)
    # Huge sojourns, but after each pop at most 1504 bytes remain except at the first.
    assert q.dequeue(500 * MS)[1] == []
    assert q.first_above_time == 600
    assert q.dequeue(1000 * MS)[1] == []
    assert q.first_above_time == 0
    assert q.dequeue(2000 * MS)[1] == []


def test_sojourn_uses_mahimahi_millisecond_clock() -> None:
    q = CoDelQueue(packets=10, target=5, interval=100)
    for _ in range(4):
        offer(q, pkt(), 999)  # arrival ms 0
    q.dequeue(4_999)  # ms 4: sojourn 4 < 5
    assert q.first_above_time == 0
    q.dequeue(5_000)  # ms 5: sojourn 5, though only 4001 µs passed
    assert q.first_above_time == 105


def test_tail_drop_limits() -> None:
    q = CoDelQueue(packets=2, target=5, interval=100)
    assert offer(q, pkt(), 0) == [] and offer(q, pkt(), 0) == []
    p = pkt()
    assert offer(q, p, 0) == [p]
    q = CoDelQueue(bytes=3008, target=5, interval=100)
    assert offer(q, pkt(), 0) == [] and offer(q, pkt(), 0) == []
    assert len(offer(q, pkt(1), 0)) == 1
    assert q.bytes == 3008


def test_empty_dequeue() -> None:
    q = CoDelQueue(packets=2, target=5, interval=100)
    assert q.dequeue(0) == (None, [])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("codel:packets=10", ["codel", "target"]),
        ("codel:packets=10,target=5", ["codel", "interval"]),
        ("codel:target=5,interval=100", ["codel", "limit"]),
        ("codel:packets=10,target=0,interval=100", ["codel", "target", "positive integer"]),
        ("codel:packets=10,target=2.5,interval=100", ["codel", "target", "integer"]),
        ("codel:packets=-1,target=5,interval=100", ["codel", "packets"]),
        ("codel:packets=x,target=5,interval=100", ["codel", "packets"]),
        ("codel:packets=10,target=5,interval=100,foo=1", ["codel", "foo"]),
    ],
)
def test_bad_specs(spec: str, words: list[str]) -> None:
    check_bad_spec(spec, words)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_conservation(ops: list) -> None:
    check_conservation(CoDelQueue(packets=20, bytes=20000, target=5, interval=30), ops)

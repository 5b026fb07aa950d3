"""PIE with Mahimahi's pie_packet_queue.cc semantics."""
from __future__ import annotations

import pytest
from aqm_helpers import check_bad_spec, check_conservation, offer, operations, pkt
from hypothesis import given, settings

from netkit.link.pie import PieQueue
from netkit.link.queues import make_queue

MS = 1000


def backlogged(seed: int = 0) -> PieQueue:
    """100 full packets at t=0, then one dequeue per ms up to 31 ms (the first update)."""
    q = PieQueue(packets=1000, qdelay_ref=15, max_burst=100, seed=seed)
    for _ in range(100):
        offer(q, pkt(), 0)
    for t in range(1, 32):
        q.dequeue(t * MS)
    return q


def test_registered_and_described() -> None:
    q = make_queue("pie:packets=100,qdelay_ref=15,max_burst=100")
    assert isinstance(q, PieQueue)
    assert q.describe() == "pie [packets=100]"


def test_rate_estimate_and_first_update_by_hand() -> None:
    q = backlogged()
    # Measurement starts at 1 ms; 11 packets (16544 B > 16384) by 11 ms: 16544 // 10 = 1654 B/ms.
    # Next 11 by 22 ms: sample 16544 // 11 = 1504, avg = 1654 - 1654//8 + 1504//8 = 1636.
    assert q.avg_dq_rate == 1636
    # The 30 ms update runs at 31 ms (31 - 0 > 30), after that dequeue: 69 packets left.
    assert q.last_update == 30
    assert q.current_qdelay == 69 * 1504 // 1636 == 63
    expected = (0.125 * (63 - 15) + 1.25 * (63 - 0)) / 128
    assert q.drop_prob == pytest.approx(expected)
    assert q.drop_prob == pytest.approx(0.662109375)


def test_update_waits_strictly_past_the_period() -> None:
    q = PieQueue(packets=1000, qdelay_ref=15, max_burst=100)
    for _ in range(100):
        offer(q, pkt(), 0)
    for t in range(1, 31):
        q.dequeue(t * MS)
    assert q.last_update == 0  # at 30 ms, 30 - 0 > 30 is false in Mahimahi


@pytest.mark.parametrize(("ref", "direction"), [(60, 1), (70, -1)])
def test_probability_follows_delay_against_reference(ref: int, direction: int) -> None:
    q = PieQueue(packets=1000, qdelay_ref=ref, max_burst=100)
    for _ in range(100):
        offer(q, pkt(), 0)
    for t in range(1, 32):
        q.dequeue(t * MS)
    first = q.drop_prob
    assert first == pytest.approx((0.125 * (63 - ref) + 1.25 * 63) / 128)
    # Nothing moves until 61 ms, so the next update sees the same 63 ms delay: only alpha acts.
    q.enqueue(pkt(), 61 * MS)
    assert q.last_update == 60 and q.current_qdelay == 63
    assert q.drop_prob == pytest.approx(first + 0.125 * (63 - ref) / 16)
    assert (q.drop_prob - first) * direction > 0


def test_early_drops_then_deterministic_with_seed() -> None:
    def run(seed: int) -> list[int]:
        q = backlogged(seed)
        dropped = []
        for i in range(200):
            p = pkt()
            if offer(q, p, 31 * MS + i):
                dropped.append(i)
        return dropped

    a, b, c = run(7), run(7), run(8)
    assert a == b
    assert 0 < len(a) < 200  # drop_prob ~0.66 applies once drop_prob >= 0.2
    assert a != c


def test_probability_decays_and_burst_allowance_resets_when_idle() -> None:
    q = backlogged()
    while len(q):
        q.dequeue(40 * MS)
    q.enqueue(pkt(), 10_000 * MS)  # catches up ~330 updates on an empty queue
    assert q.drop_prob == 0
    assert q.avg_dq_rate == 0
    assert q.burst_allowance == 0  # reset to max_burst, then decremented by 30 per update


def test_lazy_catch_up_matches_stepping() -> None:
    a, b = backlogged(), backlogged()
    for t in range(32, 60):
        a.dequeue(t * MS)
        b.dequeue(t * MS)
    for t in range(60, 5000):
        b._catch_up(t)  # one ms at a time
    a._catch_up(4999)
    assert a._state() == b._state()
    assert a.last_update == b.last_update == 4980


def test_tail_drop_limit() -> None:
    q = PieQueue(packets=2, qdelay_ref=15, max_burst=100)
    assert offer(q, pkt(), 0) == [] and offer(q, pkt(), 0) == []
    p = pkt()
    assert offer(q, p, 0) == [p]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("pie:packets=10,max_burst=100", ["pie", "qdelay_ref"]),
        ("pie:packets=10,qdelay_ref=15", ["pie", "max_burst"]),
        ("pie:qdelay_ref=15,max_burst=100", ["pie", "limit"]),
        ("pie:packets=10,qdelay_ref=0,max_burst=100", ["pie", "qdelay_ref"]),
        ("pie:packets=10,qdelay_ref=15,max_burst=100,seed=x", ["pie", "seed"]),
    ],
)
def test_bad_specs(spec: str, words: list[str]) -> None:
    check_bad_spec(spec, words)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_conservation(ops: list) -> None:
    check_conservation(PieQueue(packets=30, bytes=40000, qdelay_ref=5, max_burst=20, seed=1), ops)

"""DualPI2 (RFC 9332 with Linux sch_dualpi2 defaults)."""
from __future__ import annotations

import pytest
from aqm_helpers import check_bad_spec, check_conservation, offer, operations, pkt
from hypothesis import given, settings

from netkit.link.dualpi2 import DualPI2Queue
from netkit.link.packet import CE, ECT0, ECT1, NOT_ECT
from netkit.link.queues import make_queue

MS = 1000
NO_STEP = {"step_thresh": 10_000}


def fill(q: DualPI2Queue, n: int, ecn: int, now: int = 0) -> list:
    packets = [pkt(ecn=ecn) for _ in range(n)]
    for p in packets:
        assert offer(q, p, now) == []
    return packets


def drain(q: DualPI2Queue, now: int = 0) -> tuple[list, list]:
    sent, dropped = [], []
    while len(q):
        out, lost = q.dequeue(now)
        dropped += lost
        if out is not None:
            sent.append(out)
    return sent, dropped


def test_defaults_and_registration() -> None:
    q = make_queue("dualpi2")
    assert isinstance(q, DualPI2Queue)
    assert (q.limit, q.target_us, q.tupdate_us) == (10000, 15000, 16000)
    assert (q.alpha, q.beta, q.coupling, q.step_thresh_us) == (0.16, 3.2, 2, 1000)
    assert (q.c_protection, q.drop_on_overload, q.classification) == (10, True, "l4s_ect")
    assert q.describe().startswith("dualpi2 [limit=10000, target=15ms, tupdate=16ms, alpha=0.16, beta=3.2")
    assert make_queue("dualpi2:target=5,step_packets=4").describe().count("step_packets=4") == 1


def test_probability_update_by_hand() -> None:
    q = DualPI2Queue()
    offer(q, pkt(), 0)
    offer(q, pkt(ecn=ECT1), 8 * MS)
    # Tick at 16 ms (run before this call acts): qdelay = max(16, 8) ms.
    offer(q, pkt(), 16 * MS)
    p1 = 0.16 * (0.016 - 0.015) + 3.2 * (0.016 - 0.0)
    assert q.prob == pytest.approx(p1) == pytest.approx(0.05136)
    # Tick at 32 ms: qdelay 32 ms, previous 16 ms.
    offer(q, pkt(), 32 * MS - 1)
    assert q.prob == pytest.approx(p1)
    offer(q, pkt(), 32 * MS)
    p2 = p1 + 0.16 * (0.032 - 0.015) + 3.2 * (0.032 - 0.016)
    assert q.prob == pytest.approx(p2) == pytest.approx(0.10528)
    assert q.stats()["prob"] == q.prob


def test_probability_falls_below_target_and_clamps_at_zero() -> None:
    q = DualPI2Queue()
    q.prob = 0.01
    offer(q, pkt(), 10 * MS)
    offer(q, pkt(), 16 * MS)  # qdelay 6 ms < 15 ms, but rising from 0 (beta term)
    assert q.prob == pytest.approx(0.01 + 0.16 * (0.006 - 0.015) + 3.2 * 0.006)
    drain(q, 17 * MS)
    q.dequeue(200 * MS)  # idle: qdelay 0 on every tick
    assert q.prob == 0.0


def test_probabilities_p_c_and_p_cl() -> None:
    q = DualPI2Queue()
    q.prob = 0.3
    assert q.p_c == pytest.approx(0.09)
    assert q.p_cl == pytest.approx(0.6)
    q4 = DualPI2Queue(coupling=4)
    q4.prob = 0.3
    assert q4.p_cl == 1.0 and q4.p_c == pytest.approx(0.09)


@pytest.mark.parametrize(
    ("ecn", "rate", "field"), [(ECT0, 0.09, "marked"), (NOT_ECT, 0.09, "dropped"), (ECT1, 0.6, "marked")]
)
def test_marking_and_dropping_rates(ecn: int, rate: float, field: str) -> None:
    q = DualPI2Queue(seed=3, **NO_STEP)
    q.prob = 0.3
    fill(q, 6000, ecn)
    sent, dropped = drain(q)
    marked = sum(p.ecn == CE for p in sent)
    observed = {"marked": marked, "dropped": len(dropped)}[field] / 6000
    assert observed == pytest.approx(rate, abs=0.02)
    if ecn == ECT1:
        assert not dropped


def test_step_marks_above_one_ms() -> None:
    # Linux marks when the sojourn is strictly above step_thresh
    q = DualPI2Queue()
    fill(q, 3, ECT1)
    a, _ = q.dequeue(1000)
    b, _ = q.dequeue(1001)
    c, _ = q.dequeue(5000)
    assert (a.ecn, b.ecn, c.ecn) == (ECT1, CE, CE)
    assert q.stats()["step_marks"] == 2
    assert q.stats()["ecn_mark"] == 2


def test_step_in_packets_and_min_qlen_step() -> None:
    q = DualPI2Queue(step_packets=3)
    fill(q, 5, ECT1)
    sent, _ = drain(q)
    # L queue lengths left behind: 4, 3, 2, 1, 0; Linux marks when that length is above 3.
    assert [p.ecn for p in sent] == [CE, ECT1, ECT1, ECT1, ECT1]
    q = DualPI2Queue(min_qlen_step=2)
    fill(q, 4, ECT1)
    sent, _ = drain(q, 2 * MS)
    # Step applies only to packets that found >= 2 packets in L when they arrived.
    assert [p.ecn for p in sent] == [ECT1, ECT1, CE, CE]


def test_two_mtu_floor() -> None:
    q = DualPI2Queue()
    q.prob = 1.0  # p_C = 1: every eligible classic packet is dropped
    fill(q, 2, NOT_ECT)
    sent, dropped = drain(q)
    assert len(sent) == 2 and not dropped  # 1504 B or less left behind each time
    packets = fill(q, 3, NOT_ECT)
    out, lost = q.dequeue(0)
    assert lost == [packets[0]] and out is packets[1]  # 3008 B behind the first, 1504 behind the second
    q = DualPI2Queue(**NO_STEP)
    q.prob = 0.45  # p_CL = 0.9
    fill(q, 2, ECT1)
    sent, _ = drain(q)
    assert all(p.ecn == ECT1 for p in sent)


def test_overload_drops_classic_and_l4s() -> None:
    q = DualPI2Queue(seed=1, **NO_STEP)
    q.prob = 0.6  # k p' = 1.2 > 1: overload, p_C = 0.36
    assert q.overloaded
    fill(q, 4000, ECT0)
    sent, dropped = drain(q)
    assert all(p.ecn == ECT0 for p in sent)  # overload: classic ECT is dropped, not marked
    assert len(dropped) / 4000 == pytest.approx(0.36, abs=0.03)
    fill(q, 4000, ECT1)
    sent, dropped = drain(q)
    assert len(dropped) / 4000 == pytest.approx(0.36, abs=0.03)
    assert all(p.ecn == CE for p in sent[:-2])  # the rest of L is marked (bar the last 2 MTU)


def test_no_overload_exactly_at_one_over_k() -> None:
    q = DualPI2Queue(**NO_STEP)
    q.prob = 0.5
    assert not q.overloaded
    fill(q, 100, ECT1)
    sent, dropped = drain(q)
    assert not dropped and sum(p.ecn == CE for p in sent) >= 98  # p_CL = 1 (floor spares the last two)


def test_drop_on_overload_off_caps_probability() -> None:
    capped = DualPI2Queue(drop_on_overload=0, **NO_STEP)
    free = DualPI2Queue(**NO_STEP)
    for q in (capped, free):
        fill(q, 50, ECT0)
        q.enqueue(pkt(), 3000 * MS)  # a 3 s standing queue drives p' up
    assert free.prob == 1.0
    assert capped.prob == pytest.approx(0.5)
    assert not capped.overloaded
    fill(capped, 500, ECT1, 3000 * MS)
    sent, dropped = drain(capped, 3000 * MS)
    assert not [p for p in dropped if p.ecn in (ECT1, CE)]  # L4S never dropped


@pytest.mark.parametrize(
    ("classification", "to_l"),
    [("l4s_ect", {ECT1, CE}), ("any_ect", {ECT1, CE, ECT0})],
)
def test_classification(classification: str, to_l: set) -> None:
    q = DualPI2Queue(classification=classification)
    for ecn in (NOT_ECT, ECT1, ECT0, CE):
        offer(q, pkt(ecn=ecn), 0)
    assert q.l_packets == len(to_l)
    assert q.c_packets == 4 - len(to_l)
    names = {}
    q.on_depart = lambda p, name, sojourn: names.__setitem__(p.ecn, name)
    drain(q, 500)
    assert {ecn for ecn, name in names.items() if name == "L"} == to_l
    assert q.stats()["packets_in_l"] == len(to_l)


def test_scheduler_gives_classic_ten_percent() -> None:
    q = DualPI2Queue()
    fill(q, 1000, ECT0)
    fill(q, 1000, ECT1)
    served = []
    q.on_depart = lambda p, name, sojourn: served.append(name)
    for _ in range(1000):
        q.dequeue(0)
    assert abs(served.count("C") - 100) <= 2
    assert served[:8] == ["L"] * 8  # initial credit MTU * (10 - 90) favours L
    q2 = DualPI2Queue(c_protection=50)
    fill(q2, 500, ECT0)
    fill(q2, 500, ECT1)
    q2.on_depart = lambda p, name, sojourn: served.append(name)
    served.clear()
    for _ in range(400):
        q2.dequeue(0)
    assert abs(served.count("C") - 200) <= 2


def test_classic_alone_gets_full_service() -> None:
    q = DualPI2Queue()
    fill(q, 10, ECT0)
    sent, _ = drain(q)
    assert len(sent) == 10


def test_limit_overflow() -> None:
    q = DualPI2Queue(limit=5)
    fill(q, 3, ECT0)
    fill(q, 2, ECT1)
    p = pkt(ecn=ECT1)
    assert offer(q, p, 0) == [p]
    assert q.stats()["drops"] == 1 and q.stats()["maxq"] == 4
    assert len(q) == 5 and q.bytes == 5 * 1504


def test_on_depart_reports_sojourn_and_stats_delays() -> None:
    q = DualPI2Queue()
    seen = []
    q.on_depart = lambda p, name, sojourn: seen.append((p.ecn, name, sojourn))
    offer(q, pkt(ecn=ECT0), 100)
    offer(q, pkt(ecn=ECT1), 300)
    q.dequeue(900)
    q.dequeue(1200)
    assert seen == [(ECT1, "L", 600), (ECT0, "C", 1100)]
    st = q.stats()
    assert (st["delay_l"], st["delay_c"], st["packets_in_c"], st["packets_in_l"]) == (600, 1100, 1, 1)
    linux_names = {"prob", "delay_c", "delay_l", "packets_in_c", "packets_in_l", "maxq", "ecn_mark"}
    assert set(st) >= linux_names | {"step_marks", "drops"}


def test_deterministic_with_seed() -> None:
    def run(seed: int) -> list:
        q = DualPI2Queue(seed=seed)
        out = []
        for t in range(0, 400 * MS, 500):  # 2 packets/ms in, 1 out: a growing queue
            offer(q, pkt(ecn=ECT1 if t % 1000 else NOT_ECT), t)
            offer(q, pkt(ecn=ECT0), t)
            if t % 1000 == 0:
                p, lost = q.dequeue(t)
                out.append((p and p.ecn, len(lost)))
        return out + [tuple(sorted(q.stats().items()))]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_lazy_catch_up_matches_stepping() -> None:
    a, b = DualPI2Queue(), DualPI2Queue()
    for q in (a, b):
        fill(q, 30, ECT0)
        fill(q, 30, ECT1, 5 * MS)
        drain(q, 90 * MS)
    for t in range(90 * MS, 3000 * MS, 1000):
        b._catch_up(t)
    a._catch_up(3000 * MS - 1000)
    assert (a.prob, a._last_qdelay, a._next_tick) == (b.prob, b._last_qdelay, b._next_tick)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("dualpi2:alpha=-1", ["dualpi2", "alpha", "> 0"]),
        ("dualpi2:beta=0", ["dualpi2", "beta"]),
        ("dualpi2:limit=0", ["dualpi2", "limit"]),
        ("dualpi2:tupdate=0", ["dualpi2", "tupdate"]),
        ("dualpi2:target=-3", ["dualpi2", "target"]),
        ("dualpi2:coupling=0", ["dualpi2", "coupling"]),
        ("dualpi2:c_protection=150", ["dualpi2", "c_protection", "0 to 100"]),
        ("dualpi2:drop_on_overload=2", ["dualpi2", "drop_on_overload", "0 or 1"]),
        ("dualpi2:classification=ect0", ["dualpi2", "classification", "l4s_ect"]),
        ("dualpi2:step_thresh=1,step_packets=2", ["dualpi2", "step_thresh", "step_packets"]),
        ("dualpi2:step_packets=0", ["dualpi2", "step_packets"]),
        ("dualpi2:seed=abc", ["dualpi2", "seed"]),
        ("dualpi2:bogus=1", ["dualpi2", "bogus"]),
    ],
)
def test_bad_specs(spec: str, words: list[str]) -> None:
    check_bad_spec(spec, words)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_conservation(ops: list) -> None:
    q = DualPI2Queue(limit=25, target=2, tupdate=4, seed=2)
    q.prob = 0.4
    check_conservation(q, ops)

"""Property tests: every byte is delivered, dropped or still held; same seed, same result bit for bit."""
from hypothesis import given, settings
from hypothesis import strategies as st

from netkit.link import BernoulliLoss, Chain, Delay, GilbertElliottLoss, Packet, TraceLink, make_queue
from netkit.trace import Trace

QUEUES = ["infinite", "droptail:packets=5", "droptail:bytes=6000", "drophead:packets=3",
          "codel:packets=50,target=5,interval=100", "pie:packets=50,qdelay_ref=20,max_burst=100",
          "dualpi2:limit=20"]

traces = st.lists(st.integers(0, 40), min_size=1, max_size=30).map(sorted).filter(lambda t: t[-1] > 0)
arrivals = st.lists(st.tuples(st.integers(0, 3000), st.integers(20, 1500), st.sampled_from([0, 1, 2, 3])),
                    max_size=60)


@settings(max_examples=150, deadline=None)
@given(traces, arrivals, st.sampled_from(QUEUES), st.integers(0, 50_000))
def test_bytes_in_equal_delivered_plus_dropped_plus_queued(stamps, arr, queue, horizon):
    link = TraceLink(Trace(tuple(stamps)), make_queue(queue))
    delivered = 0
    now = 0
    for i, (gap, size, ecn) in enumerate(arr):
        now += gap
        delivered += sum(p.size for _, p in link.dequeue(now))
        link.enqueue(Packet(size, ecn=ecn, uid=i), now)
    delivered += sum(p.size for _, p in link.dequeue(now + horizon))
    st_ = link.stats
    assert st_.bytes_in == sum(size for _, size, _ in arr)
    assert st_.bytes_in == delivered + st_.bytes_dropped + link.queued_bytes
    assert st_.bytes_out == delivered


def _run_chain(seed, stamps, arr):
    chain = Chain([Delay(7_000), GilbertElliottLoss.from_rate(0.1, 2, seed=seed), BernoulliLoss(0.05, seed=seed + 1),
                   TraceLink(Trace(tuple(stamps)), make_queue("droptail:packets=8"))])
    out = []
    now = 0
    for i, (gap, size, _) in enumerate(arr):
        now += gap
        out += [(t, p.uid) for t, p in chain.dequeue(now)]
        chain.enqueue(Packet(size, uid=i), now)
    while (t := chain.next_time()) is not None:
        out += [(t2, p.uid) for t2, p in chain.dequeue(t)]
    return out


@settings(max_examples=60, deadline=None)
@given(traces, arrivals, st.integers(0, 1000))
def test_same_seed_same_result(stamps, arr, seed):
    assert _run_chain(seed, stamps, arr) == _run_chain(seed, stamps, arr)

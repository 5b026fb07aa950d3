"""Shared helpers for the AQM queue tests: packet factories, a conservation checker, a bad-spec checker."""
from __future__ import annotations

from itertools import count

import pytest
from hypothesis import strategies as st

from netkit.link.packet import NOT_ECT, Packet
from netkit.link.queues import PacketQueue, QueueSpecError, make_queue

_uids = count(1)


def pkt(size: int = 1500, ecn: int = NOT_ECT) -> Packet:
    """A packet with a fresh uid."""
    return Packet(size, ecn=ecn, uid=next(_uids))


def offer(queue: PacketQueue, packet: Packet, now: int) -> list[Packet]:
    """Enqueue as the link does: stamp the arrival time first."""
    packet.arrival = now
    return queue.enqueue(packet, now)


# One operation: (is_enqueue, packet size, ECN codepoint, time step in µs before it).
# Enqueues outnumber dequeues 2:1 and steps are mostly short, so queues build up and AQMs act.
operations = st.lists(
    st.tuples(
        st.integers(0, 2).map(bool),
        st.integers(40, 1500),
        st.integers(0, 3),
        st.one_of(st.integers(0, 3000), st.integers(0, 60_000)),
    ),
    max_size=150,
)


def check_conservation(queue: PacketQueue, ops: list[tuple[bool, int, int, int]]) -> None:
    """Run `ops`, asserting after each that packets and bytes in = sent + dropped + queued."""
    now = 0
    offered: list[Packet] = []
    gone: list[Packet] = []  # sent or dropped

    def balanced() -> None:
        assert len(offered) == len(gone) + len(queue)
        assert sum(p.size + 4 for p in offered) == sum(p.size + 4 for p in gone) + queue.bytes

    for is_enqueue, size, ecn, step in ops:
        now += step
        if is_enqueue:
            p = Packet(size, ecn=ecn, uid=len(offered) + 1)
            offered.append(p)
            gone += offer(queue, p, now)
        else:
            had = len(queue)
            out, lost = queue.dequeue(now)
            gone += lost
            if out is not None:
                gone.append(out)
            # A non-empty queue hands out a packet unless its AQM dropped everything.
            assert out is not None or had == 0 or len(queue) == 0
        balanced()
    while len(queue):
        out, lost = queue.dequeue(now)
        gone += lost + ([out] if out is not None else [])
        balanced()
    assert queue.bytes == 0
    assert sorted(p.uid for p in gone) == [p.uid for p in offered]


def check_bad_spec(spec: str, words: list[str]) -> None:
    """`make_queue(spec)` is refused with a QueueSpecError whose message names every one of `words`."""
    with pytest.raises(QueueSpecError) as err:
        make_queue(spec)
    for word in words:
        assert word in str(err.value)

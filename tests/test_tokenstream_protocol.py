"""Token packet format, Eloquent's sender/receiver rules and the MTU bound, driven sans-I/O."""
import random

from hypothesis import given, settings, strategies as st

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.wire import (
    PacketBudget, decode_ack, decode_tokens, encode_ack, encode_tokens, runs_of,
)
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD

tokens_st = st.dictionaries(st.integers(0, 2000), st.binary(max_size=255), max_size=40)


@given(tokens_st, st.one_of(st.none(), st.integers(0, 2**32 - 1)), st.integers(0, 2**32 - 1))
def test_token_packet_roundtrip(tokens, end, pn):
    got_pn, got_end, got = decode_tokens(encode_tokens(pn, tokens, end))
    assert (got_pn, got_end) == (pn, end)
    assert dict(got) == tokens
    assert [i for i, _ in got] == sorted(tokens)


@given(st.lists(st.tuples(st.integers(0, 3000), st.binary(max_size=255)), max_size=200), st.booleans())
@settings(max_examples=200)
def test_budget_is_exact_and_never_exceeds_the_limit(adds, with_end):
    budget = PacketBudget(MAX_DATAGRAM_PAYLOAD, with_end)
    for i, text in adds:
        if i not in budget.tokens:
            budget.try_add(i, text)
    data = encode_tokens(0, budget.tokens, 7 if with_end else None)
    assert len(data) == budget.size <= MAX_DATAGRAM_PAYLOAD


def test_ack_roundtrip_and_runs():
    assert runs_of([5, 1, 2, 3, 7, 8]) == [(1, 3), (5, 1), (7, 2)]
    assert decode_ack(encode_ack(9, 4, [(6, 7), (9, 9)], True)) == (9, 4, [(6, 7), (9, 9)], True)


def _drain(ep, now):
    return [d.data for d in ep.datagrams_to_send(now)]


def test_acks_trim_the_unacked_set():
    snd = EloquentSender()
    for i in range(5):
        snd.push(f"t{i}".encode(), 0)
    assert len(_drain(snd, 0)) == 1
    assert snd.unacked == [0, 1, 2, 3, 4]
    snd.receive_datagram(encode_ack(0, 2, [(4, 4)], False), 1000)  # holds 0, 1 and 4
    assert snd.unacked == [2, 3]
    snd.push(b"t5", 2000)
    (pkt,) = _drain(snd, 2000)
    assert [i for i, _ in decode_tokens(pkt)[2]] == [2, 3, 5]  # acked tokens are no longer carried
    snd.receive_datagram(encode_ack(1, 6, [], False), 3000)
    assert snd.unacked == []
    snd.close(4000)
    (fin,) = _drain(snd, 4000)
    assert decode_tokens(fin)[1] == 6 and not snd.done
    snd.receive_datagram(encode_ack(2, 6, [], True), 5000)
    assert snd.done and snd.get_timer() is None


def test_eloquent_renders_a_token_from_any_single_packet_carrying_it():
    """Drop packets at random; every packet that does arrive makes all its tokens rendered at once."""
    rng = random.Random(3)
    snd, rcv = EloquentSender(), EloquentReceiver()
    now = 0
    for i in range(400):
        now += 30_000
        snd.push(f" tok{i}".encode(), now)
        for data in _drain(snd, now):
            if rng.random() < 0.4:
                continue
            rcv.receive_datagram(data, now + 20_000)
            rendered = {idx for idx, _ in rcv.log.events}
            assert {idx for idx, _ in decode_tokens(data)[2]} <= rendered
            for ack in _drain(rcv, now + 20_000):
                if rng.random() < 0.7:  # ACKs are lost too
                    snd.receive_datagram(ack, now + 40_000)
    assert [i for i, _ in rcv.log.events] == list(range(rcv.assembler.next_index))


def test_probe_resends_the_tail_when_generation_stops():
    snd, rcv = EloquentSender(), EloquentReceiver()
    snd.push(b"last", 0)
    snd.close(0)
    _drain(snd, 0)  # lost
    t = snd.get_timer()
    assert t is not None
    snd.handle_timer(t)
    (probe,) = _drain(snd, t)
    rcv.receive_datagram(probe, t + 1)
    assert rcv.log.texts == [b"last"] and rcv.finished_at == t + 1
    for ack in _drain(rcv, t + 1):
        snd.receive_datagram(ack, t + 2)
    assert snd.done


def test_unacked_overflow_keeps_packets_within_the_mtu():
    snd = EloquentSender()
    sizes = []
    for i in range(200):  # no ACK ever comes back: the unacked set grows far past one MTU
        snd.push(bytes([65 + i % 26]) * 255, i * 1000)
        sizes += [len(d) for d in _drain(snd, i * 1000)]
    assert max(sizes) <= MAX_DATAGRAM_PAYLOAD
    assert max(sizes) > MAX_DATAGRAM_PAYLOAD - 260  # and they are filled
    snd.push(b"new", 300_000)
    (last,) = _drain(snd, 300_000)
    idx = [i for i, _ in decode_tokens(last)[2]]
    assert idx[0] == 0 and 200 in idx  # the oldest unacked first, and always the new token

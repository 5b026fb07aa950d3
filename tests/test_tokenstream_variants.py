"""The knobs the Eloquent-vs-duplication analysis turns: overdue repair, ACK frequency, spaced copies."""
import pytest

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.reliable import StreamTokenSender
from netkit.apps.tokenstream.schemes import ELOQUENT_REPAIR_GAPS, make_endpoints
from netkit.apps.tokenstream.simrun import simulate
from netkit.apps.tokenstream.sources import synthetic
from netkit.apps.tokenstream.wire import decode_tokens
from netkit.net.direction import LinkDirection


def _drain(ep, now):
    return [d.data for d in ep.datagrams_to_send(now)]


def test_overdue_token_triggers_repairs_of_the_unacked_tokens_until_acked():
    snd = EloquentSender(repair_gaps=1.5)
    for k in range(4):  # tokens every 30 ms: smoothed gap 30 ms
        snd.push(f"t{k}".encode(), k * 30_000)
        _drain(snd, k * 30_000)
    assert snd.get_timer() == 90_000 + 45_000  # 1.5 gaps after the last packet, well before the PTO
    snd.handle_timer(135_000)
    (pkt,) = _drain(snd, 135_000)
    assert [i for i, _ in decode_tokens(pkt)[2]] == [0, 1, 2, 3] and snd.repairs_sent == 1
    assert snd.probes_sent == 0 and snd.get_timer() == 135_000 + 45_000  # again, at the answer's cadence
    from netkit.apps.tokenstream.wire import encode_ack

    snd.receive_datagram(encode_ack(4, 4, [], False), 150_000)
    assert snd.get_timer() is None  # everything acknowledged: nothing more to send
    plain = EloquentSender()
    plain.push(b"x", 0)
    _drain(plain, 0)
    assert plain.get_timer() >= 100_000  # without repair: a probe timeout, at least one RTT


def test_default_eloquent_repairs_only_after_the_last_token():
    snd, _ = make_endpoints("eloquent")
    assert snd.tail_repair_gaps == ELOQUENT_REPAIR_GAPS and snd.repair_gaps is None
    for k in range(3):
        snd.push(f"t{k}".encode(), k * 30_000)
        _drain(snd, k * 30_000)
    assert snd.get_timer() >= 60_000 + 100_000  # mid-answer: the probe timeout only
    snd.close(60_000)
    _drain(snd, 60_000)
    assert snd.get_timer() == 60_000 + int(ELOQUENT_REPAIR_GAPS * 30_000)  # after the end: the repair


def test_receiver_acks_every_nth_packet_and_always_the_end():
    rcv = EloquentReceiver(ack_every=3)
    snd = EloquentSender()
    acks = 0
    for k in range(6):
        snd.push(f"t{k}".encode(), k)
        for data in _drain(snd, k):
            rcv.receive_datagram(data, k)
        acks += len(rcv.datagrams_to_send(k))
    assert acks == 2
    snd.close(10)
    for data in _drain(snd, 10):
        rcv.receive_datagram(data, 10)
    assert len(rcv.datagrams_to_send(10)) == 1
    with pytest.raises(ValueError):
        EloquentReceiver(ack_every=0)


def test_spaced_copies_go_out_later():
    snd = StreamTokenSender(copies=2, copy_spacing_us=10_000)
    snd.push(b"hello", 0)
    first = _drain(snd, 0)
    assert len(first) == 1 and snd.get_timer() <= 10_000
    assert _drain(snd, 5_000) == []
    snd.handle_timer(10_000)
    again = _drain(snd, 10_000)
    assert again == first  # the identical datagram, 10 ms later
    back_to_back = StreamTokenSender(copies=2)
    back_to_back.push(b"hello", 0)
    assert len(_drain(back_to_back, 0)) == 2


def test_repair_lowers_stall_of_a_lossy_answer_in_the_simulator():
    sched = synthetic(150, 30, 10, seed=3)
    path = LinkDirection(trace="constant:12", delay_ms=50, loss=0.2, loss_model="ge", loss_burst=3)
    stalls = {"plain": 0.0, "repair": 0.0}
    for seed in range(3):
        for name, make in (("plain", EloquentSender), ("repair", lambda: EloquentSender(repair_after_us=5_000))):
            run = simulate("eloquent", sched, path, seed, endpoints=(make(), EloquentReceiver()))
            stalls[name] += run.metrics["stall_ratio"]
    assert stalls["repair"] < stalls["plain"]


def test_simulate_runs_the_very_endpoints_passed():
    sched = synthetic(40, 30, 10, seed=1)
    sender, receiver = EloquentSender(repair_after_us=5_000), EloquentReceiver()
    run = simulate("eloquent", sched, LinkDirection(trace="constant:12", delay_ms=20, loss=0.1), 0,
                   endpoints=(sender, receiver))
    assert run.sender is sender and run.receiver is receiver
    assert sender.packets_sent == run.metrics["packets_sent"] > 0
    assert sender.repairs_sent > 0

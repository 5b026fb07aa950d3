"""The simulator's fast paths change nothing: frame objects vs encoded datagrams, bucketed event order."""
from __future__ import annotations

import os

import pytest

from netkit.link import Chain, Delay, TraceLink
from netkit.link.loss import BernoulliLoss
from netkit.sim.engine import Simulator
from netkit.sim.topology import two_host_path
from netkit.trace import synth
from netkit.transport import stream
from netkit.transport.stream import MSS, StreamReceiver, StreamSender
from netkit.transport.wire import DATA_HEADER, AckFrame, DataFrame, decode_ack, encode_ack


def _run(frames: bool, sender: StreamSender, receiver: StreamReceiver, seconds: float = 6.0):
    sim = Simulator(4)
    fwd = Chain([Delay.ms(15), BernoulliLoss(0.02, seed=3), TraceLink(synth.constant(16, 10), "droptail:packets=30")])
    rev = Chain([Delay.ms(15), BernoulliLoss(0.01, seed=5)])
    _, flow = two_host_path(sim, fwd, rev, sender, receiver, "s")
    assert sender.frames and receiver.frames  # a plain pair gets frames from the topology
    if not frames:
        sender.frames = receiver.frames = False
    sim.run(int(seconds * 1e6))
    snd = (sender.packets_sent, sender.packets_lost, sender.acked_bytes, sender.cc.cwnd, sender.rtt.smoothed,
           sender.done_at)
    rec = flow.record
    return (bytes(rec.packed), rec.sent_packets, rec.sent_bytes, rec.dropped_packets, snd, receiver.delivered,
            sim.events_run)


def test_bulk_flow_with_frames_equals_encoded_datagrams():
    with_frames = _run(True, StreamSender("cubic", bulk=True), StreamReceiver())
    encoded = _run(False, StreamSender("cubic", bulk=True), StreamReceiver())
    assert with_frames == encoded
    assert with_frames[4][1] > 20  # losses were recovered along the way


def test_real_bytes_with_frames_arrive_intact_and_equal_encoded_run():
    payload = os.urandom(3_000_000)
    results = []
    for frames in (True, False):
        sender = StreamSender("reno")
        sender.write(payload)
        sender.close()
        receiver = StreamReceiver(keep_data=True)
        results.append(_run(frames, sender, receiver, seconds=8.0))
        assert bytes(receiver.data) == payload and sender.done_at is not None
    assert results[0] == results[1]


def test_frames_stand_for_the_bytes_they_replace():
    data = DataFrame(0x81, 7, 14_470, 123_456, 10, b"0123456789")
    assert data.to_bytes() == DATA_HEADER.pack(0x81, 7, 14_470, 123_456) + b"0123456789"
    assert len(data) == len(data.to_bytes())
    bulk = DataFrame(1, 8, 0, 5, MSS, None)
    assert bulk.to_bytes() == DATA_HEADER.pack(1, 8, 0, 5) + bytes(MSS) and len(bulk) == DATA_HEADER.size + MSS
    for ranges in ([[0, 9]], [[0, 3], [5, 9]], [[0, 1], [3, 4], [6, 7], [9, 12], [14, 20], [22, 30]]):
        ack = AckFrame(ranges[-1][1], 1_234, (3, 0, 2), ranges)
        encoded = encode_ack(ranges[-1][1], 1_234, (3, 0, 2), ranges)
        assert ack.to_bytes() == encoded and len(ack) == len(encoded)
        assert decode_ack(encoded) == (ack.largest, ack.ack_delay, ack.ecn_counts, ack.ranges)
    # the ACK is a snapshot: the receiver extending its ranges later does not change it
    live = [[0, 4]]
    ack = AckFrame(4, 0, (0, 0, 0), live)
    live[0][1] = 9
    assert ack.ranges == [(0, 4)]


def test_public_datagrams_are_bytes_even_with_frames():
    sender, receiver = StreamSender("cubic", bulk=True), StreamReceiver()
    assert stream.use_frames(sender, receiver)
    dgrams = sender.datagrams_to_send(0)
    assert dgrams and all(isinstance(d.data, bytes) and len(d.data) == DATA_HEADER.size + MSS for d in dgrams)
    for d in dgrams[:2]:
        receiver.receive_datagram(d.data, 1000, d.ecn)
    (ack,) = receiver.datagrams_to_send(1000)
    assert isinstance(ack.data, bytes) and decode_ack(ack.data)[3] == [(0, 1)]


def test_subclassed_ends_keep_encoded_datagrams():
    class Tapped(StreamReceiver):
        pass

    assert not stream.use_frames(StreamSender(), Tapped())
    assert not stream.use_frames(StreamSender(), object())


def test_events_at_one_time_run_in_scheduling_order():
    sim = Simulator(0)
    seen: list[object] = []

    def note(*args: object) -> None:
        seen.append(args)

    def spawn(tag: str) -> None:
        seen.append(tag)
        sim.at_none(sim.now, lambda: seen.append(tag + "-now"))  # same time: after everything queued so far
        sim.at(sim.now - 5, note, tag + "-past")  # the past means now
        sim.after(1, note, tag + "-later")

    sim.at(10, note, "a", 1)
    sim.at_one(10, spawn, "b")
    sim.at(5, note, "first")
    sim.at_none(10, lambda: seen.append("c"))
    sim.at_one(10, note, ("tuple-arg",))
    sim.run(20)
    assert seen == [("first",), ("a", 1), "b", "c", (("tuple-arg",),), "b-now", ("b-past",), ("b-later",)]
    assert sim.events_run == 8 and sim.now == 20


def test_a_failing_event_is_consumed_and_the_rest_still_run():
    sim = Simulator(0)
    seen: list[int] = []

    def boom() -> None:
        raise RuntimeError("boom")

    sim.at_one(10, seen.append, 1)
    sim.at_none(10, boom)
    sim.at_one(10, seen.append, 2)
    sim.at_one(30, seen.append, 3)
    with pytest.raises(RuntimeError):
        sim.run(50)
    assert seen == [1]
    sim.run(50)
    assert seen == [1, 2, 3]

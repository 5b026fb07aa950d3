"""The reliable stream and datagram endpoints over simulated paths."""
import random

import pytest

from netkit.link import BernoulliLoss, Chain, Delay, GilbertElliottLoss, TraceLink
from netkit.sim.engine import Simulator
from netkit.sim.metrics import summarize_flow
from netkit.sim.topology import dumbbell, two_host_path
from netkit.trace import synth
from netkit.transport.datagram import CbrReceiver, CbrSender
from netkit.transport.endpoint import StreamEndpoint
from netkit.transport.stream import StreamReceiver, StreamSender
from netkit.transport.wire import decode_ack, encode_ack


def path(mbps=12.0, one_way_ms=20, queue="droptail:packets=40", loss=None, seed=0):
    fwd = [Delay.ms(one_way_ms)]
    if loss is not None:
        fwd.append(loss)
    fwd.append(TraceLink(synth.constant(mbps, 10), queue))
    return Chain(fwd), Chain([Delay.ms(one_way_ms)])


@pytest.mark.parametrize("cc", ["reno", "cubic"])
@pytest.mark.parametrize("loss", [None, "bernoulli", "ge"])
def test_stream_delivers_every_byte_in_order(cc, loss):
    rng = random.Random(7)
    data = rng.randbytes(400_000)
    element = {None: None, "bernoulli": BernoulliLoss(0.05, seed=3),
               "ge": GilbertElliottLoss.from_rate(0.05, mean_burst=4, seed=3)}[loss]
    sim = Simulator(1)
    fwd, rev = path(loss=element)
    sender = StreamSender(cc)
    sender.write(data)
    sender.close()
    receiver = StreamReceiver(keep_data=True)
    two_host_path(sim, fwd, rev, sender, receiver)
    sim.run(60_000_000)
    assert bytes(receiver.data) == data
    assert receiver.finished_at is not None
    assert sender.done_at is not None and sender.bytes_in_flight == 0
    if loss:
        assert sender.packets_lost > 0


def test_request_response_over_bidirectional_endpoints():
    sim = Simulator(0)
    fwd, rev = path()
    client, server = StreamEndpoint(), StreamEndpoint()
    client.sender.write(b"GET /" + bytes(995))
    client.sender.close()

    def on_request(chunk, now):
        if server.receiver.finished_at is None and server.receiver.delivered == 1000:
            server.sender.write(bytes(50_000))
            server.sender.close()

    server.receiver.on_data = on_request
    # the request goes client -> server over `fwd`, the response comes back over `rev`
    two_host_path(sim, fwd, rev, client, server)
    sim.run(5_000_000)
    assert server.receiver.finished_at is not None
    assert client.receiver.delivered == 50_000 and client.receiver.finished_at is not None
    # one RTT for the request, at least one more for the response
    assert client.receiver.finished_at >= 80_000


def test_cubic_reaches_90_percent_on_12mbps_40ms_one_bdp_buffer():
    # BDP = 12 Mbit/s * 40 ms = 60 kB = 40 packets of 1500 bytes
    sim = Simulator(0)
    trace = synth.constant(12, 10)
    link = TraceLink(trace, "droptail:packets=40")
    fwd, rev = Chain([Delay.ms(20), link]), Chain([Delay.ms(20)])
    _, flow = two_host_path(sim, fwd, rev, StreamSender("cubic", bulk=True), StreamReceiver(), "cubic")
    sim.run(60_000_000)
    s = summarize_flow(flow.record, 5_000_000, 60_000_000)
    capacity = trace.capacity_mbps(5000, 60000)
    utilisation = s["throughput_mbps"] / capacity
    print(f"cubic utilisation {utilisation:.4f} ({s['throughput_mbps']:.3f} of {capacity:.3f} Mbit/s)")
    assert utilisation >= 0.90
    assert link.stats.packets_dropped > 0  # it really filled the buffer


def test_cbr_endpoints_measure_delay_and_loss():
    sim = Simulator(0)
    fwd, rev = path(mbps=12, one_way_ms=10, loss=BernoulliLoss(0.1, seed=5))
    snd, rcv = CbrSender(4.0), CbrReceiver()
    _, flow = two_host_path(sim, fwd, rev, snd, rcv, "cbr")
    sim.run(10_000_000)
    assert 0.07 < 1 - rcv.received / snd.seq < 0.13
    assert min(rcv.delays_us) >= 10_000
    s = summarize_flow(flow.record, 0, 10_000_000)
    assert s["throughput_mbps"] == pytest.approx(4.0 * 0.9, rel=0.05)


def test_dumbbell_flows_share_the_bottleneck():
    sim = Simulator(0)
    trace = synth.constant(12, 10)
    fwd, rev = Chain([Delay.ms(10), TraceLink(trace, "droptail:packets=60")]), Chain([Delay.ms(10)])
    pairs = [(StreamSender("cubic", bulk=True), StreamReceiver(), "cubic") for _ in range(3)]
    net = dumbbell(sim, fwd, rev, pairs)
    sim.run(40_000_000)
    thr = [summarize_flow(f.record, 10_000_000, 40_000_000)["throughput_mbps"] for f in net.flows]
    assert sum(thr) == pytest.approx(12, rel=0.03)
    assert min(thr) > 0.5 * max(thr)  # no flow starved


def test_ack_wire_format_round_trip():
    data = encode_ack(99, 1234, (1, 2, 3), [[0, 10], [12, 50], [60, 99]])
    largest, delay, ecn, ranges = decode_ack(data)
    assert (largest, delay, ecn) == (99, 1234, (1, 2, 3))
    assert ranges == [(60, 99), (12, 50), (0, 10)]


def test_pacing_spreads_packets_and_still_fills_the_link():
    def run(pacing):
        sim = Simulator(0)
        trace = synth.constant(12, 10)
        fwd, rev = Chain([Delay.ms(20), TraceLink(trace, "droptail:packets=40")]), Chain([Delay.ms(20)])
        sender = StreamSender("cubic", pacing=pacing, bulk=True)
        sends = []
        _, flow = two_host_path(sim, fwd, rev, sender, StreamReceiver(), "cubic")
        flow.sender.on_send = lambda pkt: (sends.append(pkt.sent), flow.record.on_send(pkt))
        sim.run(20_000_000)
        gaps = [b - a for a, b in zip(sends, sends[1:]) if a >= 5_000_000]
        same_instant = sum(1 for g in gaps if g == 0) / len(gaps)
        return summarize_flow(flow.record, 5_000_000, 20_000_000)["throughput_mbps"], same_instant

    thr_paced, burst_paced = run(True)
    thr_unpaced, burst_unpaced = run(False)
    assert thr_paced >= 0.9 * 12
    assert burst_unpaced > 0.3  # ACK-clocked: every ACK of two packets releases two at once
    assert burst_paced < 0.05

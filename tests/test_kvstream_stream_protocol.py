"""KV streaming protocol: framing under any split, exactly-once delivery of the right option per chunk, the window."""
import random

import numpy as np
import pytest

from netkit.apps.kvstream.codec import decode_chunk, get_codec
from netkit.apps.kvstream.chunks import encode_chunks
from netkit.apps.kvstream.controller import ControllerBase
from netkit.apps.kvstream.profile import StreamProfile
from netkit.apps.kvstream.streaming import (
    BlobChunkSource, Chunk, ChunkAck, KVStreamClient, KVStreamServer, Meta, MessageReader, ProtocolError, Request,
    decode_processor, encode_chunk_ack, encode_chunk_header, encode_meta, encode_request, profile_processor,
    synthetic_payload, check_synthetic_payload,
)
from netkit.apps.kvstream.streamsim import StreamApp
from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.loss import BernoulliLoss
from netkit.link.tracelink import TraceLink
from netkit.sim.engine import Simulator
from netkit.sim.topology import Network
from netkit.trace import synth

OPTIONS = ["kvstream-L0", "kvstream-L4", "int8", "fp16", "text"]


class Scripted(ControllerBase):
    """Chooses options from a fixed list (index i gets script[i % len])."""

    def __init__(self, profile, script):
        super().__init__(profile)
        self.script = script

    def choose(self, index, now_us):
        return self.script[index % len(self.script)]


def _blobs(n_chunks=6, tokens_per_chunk=32, seed=0):
    rng = np.random.default_rng(seed)
    kv = rng.standard_normal((2, 2, n_chunks * tokens_per_chunk, 2, 16)).astype(np.float16)
    ids = rng.integers(0, 500, size=n_chunks * tokens_per_chunk)
    blobs = {o: encode_chunks(kv, get_codec(o), tokens_per_chunk, workers=1) for o in OPTIONS if o != "text"}
    text = get_codec("text", vocab_size=512)
    blobs["text"] = [text.encode(ids[s:s + tokens_per_chunk], token_start=s)
                     for s in range(0, len(ids), tokens_per_chunk)]
    return blobs


def _profile_for(blobs):
    n = len(blobs["text"])
    return StreamProfile({o: [len(b) for b in v] for o, v in blobs.items()}, {o: [1000] * n for o in blobs},
                         {o: 1.0 for o in blobs})


def test_reader_parses_every_message_under_any_split():
    payload = bytes(range(256)) * 40
    stream = (encode_request(7, 5_000_000) + encode_meta(7, 2) + encode_chunk_header(0, "kvstream-L3", len(payload))
              + payload + encode_chunk_ack(0) + encode_chunk_header(1, "text", 0) + encode_chunk_ack(1))
    expect = [Request(7, 5_000_000), Meta(7, 2), ("chunk", 0, "kvstream-L3", payload), ChunkAck(0),
              ("chunk", 1, "text", b""), ChunkAck(1)]
    rng = random.Random(3)
    for trial in range(60):
        reader = MessageReader()
        got = []
        pos = 0
        while pos < len(stream):
            step = rng.choice([1, 2, 3, 7, 100, 5000])
            got += reader.feed(stream[pos:pos + step])
            pos += step
        norm = [("chunk", m.index, m.option, m.payload) if isinstance(m, Chunk) else m for m in got]
        assert norm == expect, trial


def test_reader_rejects_unknown_type_and_option():
    with pytest.raises(ProtocolError):
        MessageReader().feed(b"\x09abc")
    bad = bytearray(encode_chunk_header(0, "int8", 0))
    bad[5] = 200
    with pytest.raises(ProtocolError):
        MessageReader().feed(bytes(bad))


def test_synthetic_payload_tag():
    p = synthetic_payload(5, "kvstream-L2", 1000)
    assert len(p) == 1000
    assert check_synthetic_payload(p[:64], 5, "kvstream-L2")
    assert not check_synthetic_payload(p[:64], 6, "kvstream-L2")
    assert not check_synthetic_payload(p[:64], 5, "int8")


def _run_direct(server, client, max_rounds=10_000):
    now = 0
    for _ in range(max_rounds):
        up = client.data_to_send(now)
        if up:
            server.receive_data(up, now)
        down = server.data_to_send(now)
        if down:
            # deliver in awkward pieces, as a stream may
            for k in range(0, len(down), 997):
                client.receive_data(down[k:k + 997], now)
        now += 1000
        if server.done_us is not None:
            break
    return now


def test_client_reassembles_the_option_chosen_for_every_chunk_with_real_blobs():
    blobs = _blobs()
    prof = _profile_for(blobs)
    script = ["kvstream-L0", "text", "int8", "fp16", "kvstream-L4"]
    decoded = {}
    server = KVStreamServer(BlobChunkSource(blobs), Scripted(prof, script))
    client = KVStreamClient(1, 10_000_000, decode_processor(lambda i, o: 5000,
                                                            sink=lambda i, o, a: decoded.__setitem__(i, a),
                                                            timer=__import__("time").perf_counter),
                            keep_payloads=True)
    _run_direct(server, client)
    n = prof.n_chunks
    assert client.done_us is not None and sorted(client.chunks) == list(range(n))
    for i in range(n):
        opt = script[i % len(script)]
        got = client.chunks[i]
        assert got.option == opt and got.payload == blobs[opt][i]
        assert np.array_equal(decoded[i], decode_chunk(blobs[opt][i]))
    assert [r.acked_us is not None for r in server.records] == [True] * n
    assert server.done_us is not None


def test_duplicate_chunk_or_stray_ack_is_a_protocol_error():
    blobs = _blobs(2)
    prof = _profile_for(blobs)
    client = KVStreamClient(1, 1_000_000, profile_processor(prof.process_us))
    client.data_to_send(0)
    msg = encode_meta(1, 2) + encode_chunk_header(0, "int8", 3) + b"abc"
    client.receive_data(msg, 1)
    with pytest.raises(ProtocolError):
        client.receive_data(encode_chunk_header(0, "int8", 3) + b"abc", 2)
    server = KVStreamServer(BlobChunkSource(blobs), Scripted(prof, ["int8"]))
    server.receive_data(encode_request(1, 1_000_000), 0)
    with pytest.raises(ProtocolError):
        server.receive_data(encode_chunk_ack(1) + encode_chunk_ack(1), 1)


def test_pipelined_processing_overlaps_receiving():
    prof = StreamProfile.synthetic(3, {"int8": 10}, {"int8": 50_000}, {"int8": 1.0})
    client = KVStreamClient(1, 1, profile_processor(prof.process_us))
    client.data_to_send(0)
    client.receive_data(encode_meta(1, 3), 0)
    for i, t in enumerate([10_000, 20_000, 200_000]):
        client.receive_data(encode_chunk_header(i, "int8", 10) + synthetic_payload(i, "int8", 10), t)
    c = client.chunks
    assert (c[0].process_start_us, c[0].processed_us) == (10_000, 60_000)
    assert (c[1].process_start_us, c[1].processed_us) == (60_000, 110_000)  # waits for chunk 0's processing
    assert (c[2].process_start_us, c[2].processed_us) == (200_000, 250_000)  # waits for its own arrival
    assert client.ttft_us == 250_000


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_every_chunk_exactly_once_over_the_simulated_stream_with_loss(loss):
    blobs = _blobs(8, 64, seed=1)
    prof = _profile_for(blobs)
    script = ["fp16", "kvstream-L0", "text", "int8"]
    sim = Simulator(4)
    fwd = [Delay.ms(15)] + ([BernoulliLoss(loss, seed=9)] if loss else []) + \
        [TraceLink(synth.constant(8, 1.0), "droptail:packets=60")]
    net = Network(sim, Chain(fwd), Chain([Delay.ms(15)]))
    server = KVStreamServer(BlobChunkSource(blobs), Scripted(prof, script))
    client = KVStreamClient(1, 10_000_000, profile_processor(prof.process_us), keep_payloads=True)
    flow = net.add_flow(StreamApp(server), StreamApp(client), "kv")
    sim.run(20_000_000)
    assert client.done_us is not None
    assert sorted(client.chunks) == list(range(prof.n_chunks))
    for i, ch in client.chunks.items():
        assert ch.option == script[i % len(script)] and ch.payload == blobs[ch.option][i]
    recs = server.records
    for k in range(2, len(recs)):  # never more than two chunks outstanding
        assert recs[k].written_us >= recs[k - 2].acked_us
    if loss:
        assert flow.sender.endpoint.ep.sender.packets_lost > 0

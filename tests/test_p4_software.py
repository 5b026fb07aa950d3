"""Software target: pipeline robustness, switch state rules, arbitration, the simulator node, and the CLI."""
from __future__ import annotations

import json
import time
import struct
import subprocess
import sys

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netkit.p4.client import P4RuntimeClient, P4RuntimeError
from netkit.p4.p4info import load_p4info
from netkit.p4.software.device import SoftwareSwitch
from netkit.p4.software.server import serve
from netkit.p4.target import REPO_P4, PortSpec

sys.path.insert(0, str(REPO_P4.parent / "tests"))
import p4_vectors as v  # noqa: E402

P4INFO = REPO_P4 / "sfu" / "build" / "sfu.p4info.txtpb"


@pytest.fixture()
def served():
    sw = SoftwareSwitch()
    server, port = serve(sw, "127.0.0.1:0")
    client = P4RuntimeClient(f"127.0.0.1:{port}")
    client.set_pipeline(P4INFO)
    v.install(client, v.meeting_state({3: 0}))
    yield sw, client, port
    client.close()
    server.stop(0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 8))
def test_any_bytes_on_any_port_never_break_the_pipeline(data, cut):
    """Truncated and random frames (the vectors' packets cut short, and noise) are forwarded, dropped or sent up."""
    sw = SoftwareSwitch()
    sw.set_pipeline(load_p4info(P4INFO))
    sw.state.multicast_groups[1] = [(1, 1), (2, 2)]
    for port, frame in [(1, data), (1, v.from_participant(1, v.vp8(5, 1))[: 14 + 20 + 8 + cut * 3]), (255, data)]:
        for eport, out in sw.process(port, frame):
            assert 0 <= eport < 511
            assert isinstance(out, bytes)


def test_unknown_stream_counts_and_registers_are_readable(served):
    sw, c, _ = served
    sw.receive(1, v.from_participant(1, v.vp8(100, 0)))
    sw.receive(1, v.from_participant(1, v.vp8(101, 2)))
    packets, nbytes = c.read_counter("stream_rx", 1)
    assert packets == 2 and nbytes == 2 * len(v.from_participant(1, v.vp8(100, 0)))
    assert c.read_counter("layer_drops", 3)[0] == 1          # receiver 3 (slot 3) gets layer 0 only
    state = c.read_register("seq_state", 3)[0]
    assert (state >> 32, (state >> 16) & 0xFFFF, state & 0xFFFF) == (1, 101, 1)   # init, highest, dropped
    c.write_register("seq_state", 3, 0)                     # the controller resets a slot
    assert c.read_register("seq_state", 3) == [0]
    for bad in (lambda: c.read_register("seq_state", 4096), lambda: c.write_register("seq_state", 4096, 1),
                lambda: c.read_counter("stream_rx", 1 << 20)):
        with pytest.raises(P4RuntimeError) as exc:
            bad()
        assert exc.value.codes == ["OUT_OF_RANGE"] and "outside 0.." in str(exc.value)   # a Write: per update
    assert len(c.read_register("seq_state")) > 4            # no index: every cell


def test_table_rules_priority_default_and_params(served):
    _, c, _ = served
    with pytest.raises(P4RuntimeError) as exc:                # ternary table without a priority
        c.insert(c.table_entry("rtcp_route", {"packet_type": 204}, "rtcp_drop"))
    assert exc.value.codes == ["INVALID_ARGUMENT"]
    with pytest.raises(P4RuntimeError) as exc:                # exact table with a priority
        c.insert(c.table_entry("stream", {"ssrc": 5}, "SfuIngress.drop", priority=3))
    assert exc.value.codes == ["INVALID_ARGUMENT"]
    with pytest.raises(P4RuntimeError) as exc:                # @defaultonly action in an entry
        c.insert(c.table_entry("receiver_layer", {"egress_rid": 9}, "NoAction"))
    assert exc.value.codes == ["INVALID_ARGUMENT"]
    te = c.table_entry("feedback_target", {"media_ssrc": 7}, "to_sender", {"port": 1, "rid": 1})
    te.action.action.params[0].value = b"\x02\x00"         # 512: too wide for the 9-bit port
    with pytest.raises(P4RuntimeError) as exc:
        c.insert(te)
    assert exc.value.codes == ["INVALID_ARGUMENT"]
    # one batch, one good and one bad update: the good one is applied, the error names index 1
    with pytest.raises(P4RuntimeError) as exc:
        c.insert(c.table_entry("stream", {"ssrc": 0x77}, "SfuIngress.drop"),
                 c.table_entry("stream", {"ssrc": v.SSRC_A}, "SfuIngress.drop"))
    assert [(i, code) for i, code, _ in exc.value.errors] == [(1, "ALREADY_EXISTS")]
    assert any(r["match"] == {"ssrc": 0x77} for r in c.read_table("stream"))
    # default action: modify to stream_to_cpu, unknown SSRCs then reach the controller
    c.modify(c.table_entry("stream", action="stream_to_cpu", default=True))


def test_unknown_ssrc_reaches_controller_after_default_change(served):
    sw, c, _ = served
    c.modify(c.table_entry("stream", action="stream_to_cpu", default=True))
    frame = v.from_participant(1, v.vp8(9, 0, ssrc=0x999))
    sw.receive(1, frame)
    pin = c.packet_in(timeout_s=2)
    assert pin is not None and pin.payload == frame and pin.metadata == {"ingress_port": 1, "reason": 3}


def test_arbitration_primary_and_backup(served):
    sw, c, port = served
    backup = P4RuntimeClient(f"127.0.0.1:{port}", election_id=(0, 0))
    try:
        assert c.is_primary and not backup.is_primary
        backup.get_p4info()
        with pytest.raises(P4RuntimeError) as exc:
            backup.insert(backup.table_entry("stream", {"ssrc": 1}, "SfuIngress.drop"))
        assert exc.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert backup.read_table("stream")                    # reads are open to backups
        with pytest.raises(P4RuntimeError) as exc:           # a second controller with the same election id
            P4RuntimeClient(f"127.0.0.1:{port}", election_id=(0, 1))
        assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        backup.close()


def test_simulator_node_replicates_in_virtual_time():
    from netkit.link.delay import Delay
    from netkit.link.packet import Packet
    from netkit.p4.sim import SimSwitch
    from netkit.sim.engine import Simulator
    from netkit.sim.pipe import Pipe

    sim = Simulator(seed=0)
    sw = SoftwareSwitch()
    sw.set_pipeline(load_p4info(P4INFO))
    node = SimSwitch(sim, sw, latency_us=50)
    got: list[tuple[int, int, bytes]] = []
    uplink = Pipe(sim, Delay(10_000), name="p1-up")
    uplink.connect(1, node.ingress(1))
    for r in (2, 3, 4):
        down = Pipe(sim, Delay(5_000), name=f"p{r}-down")
        down.connect(r, lambda pkt, t, r=r: got.append((r, t, pkt.raw)))
        node.attach(r, down, flow=r)
    server, port = serve(sw, "127.0.0.1:0")
    try:
        with P4RuntimeClient(f"127.0.0.1:{port}") as c:
            c.index = __import__("netkit.p4.p4info", fromlist=["P4InfoIndex"]).P4InfoIndex(sw.p4info)
            v.install(c, v.meeting_state({3: 0}))
    finally:
        server.stop(0)
    for i, (seq, tid) in enumerate([(1, 0), (2, 2), (3, 0)]):
        ip = v.from_participant(1, v.vp8(seq, tid))[14:]
        sim.at(i * 1000, uplink.send, Packet(size=len(ip), flow=1, sent=i * 1000, raw=ip))
    sim.run(until=1_000_000)
    assert sorted((r, t) for r, t, _ in got) == sorted(
        [(r, i * 1000 + 15_050) for i in (0, 1, 2) for r in (2, 4)] + [(3, 15_050), (3, 17_050)])
    seqs3 = [struct.unpack_from("!H", raw, 20 + 8 + 2)[0] for r, _, raw in sorted(got, key=lambda g: g[1]) if r == 3]
    assert seqs3 == [1, 2]                                   # layer 2 dropped, sequence still gap-free


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netkit.cli", *args], capture_output=True, text=True, timeout=60, **kw)


def test_cli_targets_compile_and_bad_input(tmp_path):
    r = _cli("p4", "targets")
    assert r.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()}
    assert rows["software"] == "usable" and set(rows) == {"software", "bmv2", "tofino"}
    out = tmp_path / "b"
    r = _cli("p4", "compile", "sfu", "--target", "software", "--out", str(out))
    assert r.returncode == 0 and json.loads((out / "sfu.software.json").read_text())["program"] == "sfu"
    assert (out / "sfu.p4info.txtpb").read_text() == P4INFO.read_text()
    r = _cli("p4", "compile", "sfu", "--target", "software", "--out", str(out))
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr
    for args, words in [(("p4", "serve", "--port", "1@"), "--port"),
                        (("p4", "serve", "--port", "255@veth0"), "CPU port"),
                        (("p4", "compile", "nosuch", "--target", "software", "--out", str(tmp_path / "x")), "nosuch")]:
        r = _cli(*args)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x").exists()
    for name in ("bmv2", "tofino"):
        from netkit.p4.target import get_target
        if not get_target(name).available().usable:
            r = _cli("p4", "compile", "sfu", "--target", name, "--out", str(tmp_path / name))
            assert r.returncode == 2 and "install" in r.stderr and len(r.stderr.strip().splitlines()) == 1
            assert not (tmp_path / name).exists()


def test_cli_load_writes_entries_into_a_running_switch(tmp_path):
    sw = SoftwareSwitch()
    server, port = serve(sw, "127.0.0.1:0")
    try:
        entries = tmp_path / "entries.json"
        entries.write_text(json.dumps([
            {"table": "stream", "match": {"ssrc": 161}, "action": "set_stream",
             "params": {"stream_id": 1, "mcast_grp": 1, "sender_rid": 1}},
            {"multicast_group": 1, "replicas": [[1, 1], [2, 2]]}]))
        r = _cli("p4", "load", "--grpc", f"127.0.0.1:{port}", "--entries", str(entries))
        assert r.returncode == 0, r.stderr
        assert sw.state.multicast_groups == {1: [(1, 1), (2, 2)]}
        assert len(sw.state.by_name("table", "SfuIngress.stream").entries) == 1
        entries.write_text('[{"table": "stream",\n "match": ')
        r = _cli("p4", "load", "--grpc", f"127.0.0.1:{port}", "--entries", str(entries))
        assert r.returncode == 2 and str(entries) in r.stderr and "line 2" in r.stderr
    finally:
        server.stop(0)


def test_port_spec_parsing():
    assert PortSpec.parse("3@nk-a:veth1") == PortSpec(3, "veth1", "nk-a")
    assert str(PortSpec.parse("1@eth0")) == "1@eth0"
    with pytest.raises(ValueError, match="--port"):
        PortSpec.parse("x@eth0")


@pytest.mark.emu
def test_live_replication_between_namespace_ports():
    """The software target forwards real frames: RTP into veth port 1 leaves rewritten on ports 2..4."""
    import select
    import socket

    from netkit.emu import netns
    from netkit.emu.testing import run_in, scratch_namespace, skip_reason
    from netkit.p4.target import get_target

    why = skip_reason("ip")
    if why:
        pytest.skip(why)
    with scratch_namespace("p4l") as ns:
        netns.write_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        for p in (1, 2, 3, 4):
            run_in(ns, ["ip", "link", "add", f"sw{p}", "type", "veth", "peer", "name", f"h{p}"], check=True)
            for dev in (f"sw{p}", f"h{p}"):
                run_in(ns, ["ip", "link", "set", dev, "up"], check=True)
        target = get_target("software")
        target.start("127.0.0.1:0", [PortSpec(p, f"sw{p}", ns) for p in (1, 2, 3, 4)])
        socks = {}
        try:
            with netns.enter(ns):
                for p in (1, 2, 3, 4):
                    socks[p] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
                    socks[p].bind((f"h{p}", 0))
            with target.connect() as c:
                c.set_pipeline(P4INFO)
                v.install(c, v.meeting_state({4: 0}))
                sent = [(s, t) for s, t in ((10, 0), (11, 1), (12, 0))]
                for seq, tid in sent:
                    socks[1].send(v.from_participant(1, v.vp8(seq, tid)))
                got: dict[int, list[bytes]] = {2: [], 3: [], 4: [], 1: []}
                deadline = time.monotonic() + 3
                while sum(map(len, got.values())) < 8 and time.monotonic() < deadline:
                    ready, _, _ = select.select(list(socks.values()), [], [], 0.05)
                    for s in ready:
                        frame, addr = s.recvfrom(65535)
                        if addr[2] != 4:
                            got[next(p for p, q in socks.items() if q is s)].append(frame)
            assert got[1] == []                                   # never back to the sender
            for r in (2, 3):
                assert got[r] == [v.to_participant(r, v.vp8(s, t)) for s, t in sent]
            p = v.vp8(12, 0)
            p.sequence = 11                                       # layer 1 dropped for receiver 4, no gap
            assert got[4] == [v.to_participant(4, v.vp8(10, 0)), v.to_participant(4, p)]
        finally:
            for s in socks.values():
                s.close()
            target.stop()


def test_table_writes_take_effect_on_the_next_packet(served):
    """The media fast path caches per-(stream, receiver) table results; every write must invalidate them."""
    sw, c, _ = served
    ports = lambda seq, tid: sorted(p for p, _ in sw.process(1, v.from_participant(1, v.vp8(seq, tid))))  # noqa: E731
    assert ports(1, 1) == [2, 4]                                  # receiver 3 is at layer 0
    c.modify(c.table_entry("receiver_layer", {"egress_rid": 3}, "set_max_layer", {"max_tid": 1}))
    assert ports(2, 1) == [2, 3, 4]
    c.delete(c.table_entry("stream_receiver", {"stream_id": 1, "egress_rid": 4}))
    assert ports(3, 1) == [2, 3]
    c.modify(c.table_entry("stream_receiver", action="set_slot", params={"slot": 40}, default=True))
    assert ports(4, 0) == [2, 3, 4]                               # the default now subscribes receiver 4
    out = dict(sw.process(1, v.from_participant(1, v.vp8(5, 0))))
    c.modify(c.table_entry("receiver_rewrite", {"rid": 2}, "rewrite",
                           {"src_mac": 1, "dst_mac": 2, "src_addr": 3, "dst_addr": 4, "src_port": 5, "dst_port": 6}))
    out2 = dict(sw.process(1, v.from_participant(1, v.vp8(6, 0))))
    assert out[2][:6] == bytes.fromhex("020000000002") and out2[2][:6] == bytes.fromhex("000000000002")

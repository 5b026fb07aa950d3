"""p4runtime-shell, used as its README shows, against `netkit p4 serve --target software` in a subprocess."""
from __future__ import annotations

import re
import select
import socket
import subprocess
import time

import grpc
import pytest

sh = pytest.importorskip("p4runtime_sh.shell")
from p4.v1 import p4runtime_pb2  # noqa: E402
from p4runtime_sh.p4runtime import P4RuntimeException, P4RuntimeWriteException  # noqa: E402
from scapy.all import IP, UDP, Ether, raw  # noqa: E402
from scapy.contrib.stun import STUN  # noqa: E402

from netkit.emu.testing import netkit_command, skip_reason  # noqa: E402

LIVE = skip_reason("ip")
PORTS = (1, 2, 3)


@pytest.fixture(scope="module")
def switch(tmp_path_factory):
    """The serve subprocess (ports on veth pairs in a scratch namespace when root) and the shell set up on it."""
    tmp = tmp_path_factory.mktemp("p4shell")
    subprocess.run(netkit_command("p4", "compile", "sfu", "--target", "software", "--out", str(tmp / "build")),
                   check=True, capture_output=True)
    ns_ctx, socks, args = None, {}, []
    if LIVE is None:
        from netkit.emu import netns
        from netkit.emu.testing import run_in, scratch_namespace

        ns_ctx = scratch_namespace("p4")
        ns = ns_ctx.__enter__()
        netns.write_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        for p in PORTS:
            run_in(ns, ["ip", "link", "add", f"sw{p}", "type", "veth", "peer", "name", f"h{p}"], check=True)
            for dev in (f"sw{p}", f"h{p}"):
                run_in(ns, ["ip", "link", "set", dev, "up"], check=True)
            args += ["--port", f"{p}@{ns}:sw{p}"]
        with netns.enter(ns):
            for p in PORTS:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
                s.bind((f"h{p}", 0))
                socks[p] = s
    proc = subprocess.Popen(netkit_command("p4", "serve", "--target", "software", "--grpc", "127.0.0.1:0", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"serving P4Runtime on (\S+) ", line)
    assert m, f"serve did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    sh.setup(device_id=1, grpc_addr=m.group(1), election_id=(0, 1),
             config=sh.FwdPipeConfig(str(tmp / "build" / "sfu.p4info.txtpb"), str(tmp / "build" / "sfu.software.json")),
             verbose=False)
    try:
        yield {"proc": proc, "socks": socks, "addr": m.group(1)}
    finally:
        sh.teardown()
        proc.terminate()
        proc.wait(timeout=10)
        for s in socks.values():
            s.close()
        if ns_ctx is not None:
            ns_ctx.__exit__(None, None, None)


def _stream_entry(ssrc: int, stream_id: int):
    te = sh.TableEntry("stream")(action="set_stream")
    te.match["ssrc"] = hex(ssrc)
    te.action["stream_id"] = str(stream_id)
    te.action["mcast_grp"] = "1"
    te.action["sender_rid"] = "1"
    return te


def _read_streams() -> dict[int, int]:
    out = {}
    for e in sh.TableEntry("stream").read():
        ssrc = int.from_bytes(e.match["ssrc"].exact.value, "big")
        is_set = e.action.action_name == "SfuIngress.set_stream"
        out[ssrc] = int.from_bytes(e.action["stream_id"].value, "big") if is_set else e.action.action_name
    return out


def test_table_entries_insert_read_modify_delete(switch):
    te = _stream_entry(0xA1, 1)
    te.insert()
    _stream_entry(0xB2, 2).insert()
    assert _read_streams() == {0xA1: 1, 0xB2: 2}
    te.action["stream_id"] = "7"
    te.modify()
    assert _read_streams() == {0xA1: 7, 0xB2: 2}
    with pytest.raises(P4RuntimeWriteException, match="ALREADY_EXISTS"):
        _stream_entry(0xB2, 9).insert()
    te.delete()
    assert _read_streams() == {0xB2: 2}
    with pytest.raises(P4RuntimeWriteException, match="NOT_FOUND"):
        te.delete()
    # a ternary table: entries carry a priority; reading returns the canonical value and mask
    r = sh.TableEntry("rtcp_route")(action="rtcp_to_sender")
    r.match["packet_type"] = "206"
    r.match["fmt"] = "1&&&0x1f"
    r.priority = 20
    r.insert()
    (got,) = list(sh.TableEntry("rtcp_route").read())
    assert got.priority == 20
    assert (got.match["fmt"].ternary.value, got.match["fmt"].ternary.mask) == (b"\x01", b"\x1f")
    # the default action can be modified and read back
    d = sh.TableEntry("receiver_layer")(action="NoAction", is_default=True)
    assert [e.is_default for e in sh.TableEntry("receiver_layer")(is_default=True).read()] == [True]
    d.modify()


def test_multicast_groups_insert_read_modify_delete(switch):
    def groups():
        return {g.group_id: sorted((r.egress_port, r.instance) for r in g.replicas)
                for g in sh.MulticastGroupEntry().read()}

    sh.MulticastGroupEntry(5).add(1, 1).add(2, 2).add(3, 3).insert()
    assert groups()[5] == [(1, 1), (2, 2), (3, 3)]
    sh.MulticastGroupEntry(5).add(2, 2).add(3, 3).modify()
    assert groups()[5] == [(2, 2), (3, 3)]
    with pytest.raises(P4RuntimeWriteException, match="ALREADY_EXISTS"):
        sh.MulticastGroupEntry(5).add(1, 1).insert()
    sh.MulticastGroupEntry(5).delete()
    assert 5 not in groups()


def test_clone_sessions_insert_and_read_back_apart_from_multicast_groups(switch):
    sh.CloneSessionEntry(7).add(4, 1).insert()
    sh.MulticastGroupEntry(7).add(1, 1).insert()
    (got,) = list(sh.CloneSessionEntry(7).read())
    assert got.session_id == 7 and [(r.egress_port, r.instance) for r in got.replicas] == [(4, 1)]
    assert [g.group_id for g in sh.MulticastGroupEntry(7).read()] == [7]
    assert len(list(sh.CloneSessionEntry().read())) == 1
    sh.CloneSessionEntry(7).delete()
    sh.MulticastGroupEntry(7).delete()


def _raw_write(table_id: int, fields: list[tuple[int, bytes]], action: str = "SfuIngress.drop") -> None:
    from p4runtime_sh.context import P4Type

    req = p4runtime_pb2.WriteRequest()
    u = req.updates.add(type=p4runtime_pb2.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = table_id
    for fid, value in fields:
        te.match.add(field_id=fid).exact.value = value
    te.action.action.action_id = sh.context.get_obj_id(P4Type.action, action)
    sh.client.write(req)


def _table_id(name: str) -> int:
    from p4runtime_sh.context import P4Type

    return sh.context.get_obj_id(P4Type.table, name)


def _codes(exc: P4RuntimeWriteException) -> list[str]:
    from google.rpc import code_pb2

    return [code_pb2.Code.Name(e.canonical_code) for _, e in exc.errors]


def test_bad_requests_get_the_status_a_switch_gives_and_it_keeps_serving(switch):
    stream = _table_id("stream")
    with pytest.raises(P4RuntimeWriteException) as exc:
        _raw_write(0x02FFFFFF, [(1, b"\x01")])                      # unknown table
    assert _codes(exc.value) == ["NOT_FOUND"]
    with pytest.raises(P4RuntimeWriteException) as exc:
        _raw_write(stream, [(1, b"\x01\x00\x00\x00\x00")])           # 33+ bits for a 32-bit ssrc
    assert _codes(exc.value) == ["INVALID_ARGUMENT"]
    with pytest.raises(P4RuntimeWriteException) as exc:
        _raw_write(stream, [])                                       # exact field ssrc missing
    assert _codes(exc.value) == ["INVALID_ARGUMENT"]
    with pytest.raises(P4RuntimeWriteException) as exc:
        _raw_write(stream, [(9, b"\x01")])                           # no such match field
    assert _codes(exc.value) == ["INVALID_ARGUMENT"]
    with pytest.raises(P4RuntimeWriteException) as exc:               # action of another table
        _raw_write(stream, [(1, b"\x05")], action="SfuEgress.set_slot")
    assert _codes(exc.value) == ["INVALID_ARGUMENT"]
    req = p4runtime_pb2.ReadRequest(device_id=1)
    req.entities.add().table_entry.table_id = 0x02FFFFFF
    with pytest.raises((P4RuntimeException, grpc.RpcError)) as rexc:   # the shell raises on iteration
        list(sh.client.read_one(req.entities[0]))
    assert "NOT_FOUND" in str(rexc.value)
    # and the switch is still serving: a good write and a read succeed
    _raw_write(stream, [(1, b"\x42")])
    assert 0x42 in _read_streams()
    assert switch["proc"].poll() is None
    # a wrong device id is refused outright (NOT_FOUND), not by update
    stub = sh.client.stub
    with pytest.raises(grpc.RpcError) as rpc:
        stub.Read(p4runtime_pb2.ReadRequest(device_id=99, entities=[req.entities[0]])).next()
    assert rpc.value.code() == grpc.StatusCode.NOT_FOUND
    assert sh.APIVersion() == "1.4.1"


@pytest.mark.emu
@pytest.mark.skipif(LIVE is not None, reason=f"live ports: {LIVE}")
def test_packet_out_leaves_on_the_requested_port(switch):
    frame = raw(Ether(src="02:00:00:00:00:fe", dst="02:00:00:00:00:03") / IP(src="10.0.0.254", dst="10.0.0.3") /
                UDP(sport=3478, dport=6003) / b"binding success")
    sh.PacketOut(payload=frame, egress_port="3").send()
    got = _capture(switch["socks"], 2.0, want=1)
    assert got == [(3, frame)]


@pytest.mark.emu
@pytest.mark.skipif(LIVE is not None, reason=f"live ports: {LIVE}")
def test_stun_arrives_as_packet_in(switch):
    packet_in = sh.PacketIn()
    frame = raw(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:fe") / IP(src="10.0.0.2", dst="10.0.0.254") /
                UDP(sport=6002, dport=3478) / STUN(stun_message_type=1, transaction_id=0xABCDEF))
    switch["socks"][2].send(frame)
    msgs = list(packet_in.sniff(timeout=3))
    assert len(msgs) == 1
    pkt = msgs[0].packet
    md = {m.metadata_id: int.from_bytes(m.value, "big") for m in pkt.metadata}
    assert pkt.payload == frame
    assert md == {1: 2, 2: 1}   # ingress_port 2, reason STUN


def _capture(socks, timeout_s: float, want: int) -> list[tuple[int, bytes]]:
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        ready, _, _ = select.select(list(socks.values()), [], [], 0.05)
        for s in ready:
            frame, addr = s.recvfrom(65535)
            if addr[2] != 4:
                got.append((next(p for p, q in socks.items() if q is s), frame))
    return got

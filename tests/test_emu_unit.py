"""Live-emulation parts that need neither root nor namespaces: headers, specs, the real-time loop on sockets."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from scapy.layers.inet import IP, UDP

from netkit.emu.clock import Clock
from netkit.emu.ipheader import ecn_of, flow_key, set_ecn
from netkit.emu.linkcore import Direction, LinkLoop, TimingHistogram, monotonic_clock
from netkit.net import LinkDirection, LinkPlan, component_seed
from netkit.emu.meter import FlowMeter
from netkit.emu.names import owner_pid
from netkit.emu.tunlink import parse_route_chain
from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.packet import CE, ECT1, Packet
from netkit.sim.metrics import FlowRecord


def _udp(tos: int = 0, payload: bytes = b"x" * 100) -> bytes:
    return bytes(IP(src="100.64.0.1", dst="100.64.0.2", tos=tos) / UDP(sport=1234, dport=5678) / payload)


def test_set_ecn_rewrites_bits_and_fixes_the_checksum():
    raw = _udp(tos=0xB8 | ECT1)  # DSCP EF, ECT(1)
    assert ecn_of(raw) == ECT1
    marked = set_ecn(raw, CE)
    pkt = IP(bytes(marked))
    assert pkt.tos == 0xB8 | CE
    written = pkt.chksum
    del pkt.chksum
    assert IP(bytes(pkt)).chksum == written  # scapy computes the same checksum from scratch
    assert written != IP(raw).chksum


def test_set_ecn_on_ipv6_traffic_class():
    from scapy.layers.inet6 import IPv6

    raw = bytes(IPv6(src="fd00::1", dst="fd00::2", tc=0x01) / UDP() / b"x")
    assert ecn_of(raw) == ECT1
    assert IPv6(bytes(set_ecn(raw, CE))).tc == 0x03


def test_flow_key_names_protocol_addresses_and_ports():
    assert flow_key(_udp()) == "udp 100.64.0.1:1234>100.64.0.2:5678"
    assert flow_key(b"\x60" + bytes(40)) == "?"


def test_timing_histogram_percentiles():
    h = TimingHistogram()
    for us in range(1, 101):
        h.add(us)
    assert h.percentile(50) == 50
    assert h.percentile(99) == 99
    assert h.summary()["max_us"] == 100


def test_link_spec_round_trips_and_orders_elements_like_replay(tmp_path):
    trace = tmp_path / "t.trace"
    trace.write_text("1\n2\n")
    down = LinkDirection(str(trace), delay_ms=5, loss=0.1, queue="droptail:packets=10")
    spec = LinkPlan.single(down, LinkDirection(delay_ms=5), seed=3, log_dir=str(tmp_path))
    again = LinkPlan.from_dict(__import__("json").loads(__import__("json").dumps(spec.to_dict())))
    assert again == spec
    chain, logs = again.down.build()
    assert [type(e).__name__ for e in chain.elements] == ["Delay", "BernoulliLoss", "TraceLink"]
    assert spec.down.loss_seed == component_seed(3, "down.loss") != spec.up.loss_seed
    assert len(logs) == 1 and logs[0].path.name == "downlink.log"
    for log in logs:
        log.abort()


def test_link_spec_rejects_bad_options():
    with pytest.raises(ValueError, match="loss: expected a probability"):
        LinkDirection(loss=1.5).validate()
    with pytest.raises(ValueError, match="queue: unknown queue"):
        LinkDirection(queue="nosuchqueue").validate()


def test_names_stay_interface_sized_in_a_long_lived_process_with_a_large_pid(monkeypatch):
    """A name's counter grows with every name a process makes (a test session makes hundreds): in base 36 it still
    fits IFNAMSIZ at the largest PID, where decimal did not (`nk-16086-p4sh101` broke a CI run)."""
    import itertools

    from netkit.emu import names

    monkeypatch.setattr(names, "run_prefix", lambda pid=None: "nk-4194303-")
    monkeypatch.setattr(names, "_counter", itertools.count(46_655))
    name = names.new_name("o")
    assert name == "nk-4194303-ozzz" and owner_pid(name) == 4194303
    with pytest.raises(ValueError, match="longer than 15 characters"):
        names.new_name("o")


def test_names_and_route_chain_parse():
    assert owner_pid("nk-1234-s1") == 1234
    assert owner_pid("eth0") is None
    assert parse_route_chain("10:nk-10-o1,20:nk-20-o2") == [(10, "nk-10-o1"), (20, "nk-20-o2")]
    assert parse_route_chain(None) == []


def test_clock_matches_asyncio_loop_time():
    clock = Clock()
    assert abs(clock.to_loop_time(clock.now()) - time.monotonic()) < 0.01


def test_flow_meter_pairs_sends_with_arrivals():
    rec = FlowRecord(1, "x")
    meter = FlowMeter(rec)
    meter.on_send(b"a" * 100, 1000, 0)
    meter.on_send(b"a" * 100, 2000, 0)
    meter.on_receive(b"a" * 100, 5000, CE)
    assert list(rec.delays_us) == [4000]
    assert rec.ce_marked == 1 and rec.sent_packets == 2 and meter.outstanding == 1


def test_loop_forwards_with_delay_and_marks_ce_on_datagram_sockets():
    """The real-time loop between two datagram socket pairs standing in for TUN devices."""
    a_out, a_link = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_link, b_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (a_link, b_link):
        s.setblocking(False)

    class MarkAll(Delay):
        def dequeue(self, now):
            out = super().dequeue(now)
            for _, p in out:
                p.ecn = CE
            return out

    clock = monotonic_clock(time.monotonic_ns())
    down = Direction("downlink", a_link.fileno(), b_link.fileno(), Chain([MarkAll(20_000)]), clock)
    up = Direction("uplink", b_link.fileno(), a_link.fileno(), Chain([]), clock)
    wake_r, wake_w = os.pipe()
    loop = LinkLoop([down, up], clock, stop_fds=(wake_r,))
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        sent = time.monotonic()
        a_out.send(_udp(tos=ECT1))
        b_in.settimeout(2)
        got = b_in.recv(2048)
        elapsed = time.monotonic() - sent
    finally:
        os.write(wake_w, b"x")
        thread.join(5)
        for fd in (wake_r, wake_w):
            os.close(fd)
    assert 0.019 <= elapsed < 0.05
    assert IP(got).tos & 3 == CE
    assert down.stats()["ce_marked"] == 1
    assert down.stats()["timing"]["count"] == 1


def test_packet_raw_is_kept_for_the_live_link():
    raw = _udp()
    pkt = Packet(len(raw), raw=raw)
    assert pkt.raw is raw and pkt.size == 128


def test_loop_keeps_running_after_a_full_batch():
    """More packets pending than one read batch takes: all are forwarded and the loop goes on."""
    a_out, a_link = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_link, b_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (a_link, b_link, b_in):
        s.setblocking(False)
    clock = monotonic_clock(time.monotonic_ns())
    down = Direction("downlink", a_link.fileno(), b_link.fileno(), Chain([Delay(1000)]), clock, batch=8)
    up = Direction("uplink", b_link.fileno(), a_link.fileno(), Chain([]), clock)
    for i in range(40):
        a_out.send(_udp(payload=bytes([i]) * 10))
    loop = LinkLoop([down, up], clock)
    loop.run(until_us=clock() + 100_000)
    assert loop.stop_reason is None
    got = []
    while True:
        try:
            got.append(b_in.recv(2048))
        except BlockingIOError:
            break
    assert len(got) == 40 and down.stats()["packets_out"] == 40


def test_a_taken_udp_or_tcp_port_is_one_clear_error_and_leaks_no_socket():
    import asyncio

    from netkit.emu.driver import start_tcp_server, udp_socket
    from netkit.emu.errors import NameTaken

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    first = udp_socket(None, "127.0.0.1", 0)
    port = first.getsockname()[1]
    try:
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 20   # the buffer option was set
        before = fds()
        with pytest.raises(NameTaken, match=rf"UDP port {port} on 127.0.0.1 is taken in namespace \(current\)"):
            udp_socket(None, "127.0.0.1", port)
        assert fds() == before
    finally:
        first.close()

    async def tcp() -> None:
        server = await start_tcp_server(None, lambda r, w: None, "127.0.0.1", 0)
        tport = server.sockets[0].getsockname()[1]
        try:
            before = fds()
            with pytest.raises(NameTaken, match=rf"TCP port {tport} on 127.0.0.1 is taken"):
                await start_tcp_server(None, lambda r, w: None, "127.0.0.1", tport)
            assert fds() == before
        finally:
            server.close()
            await server.wait_closed()
    asyncio.run(tcp())

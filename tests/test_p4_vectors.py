"""The SFU program's packet test vectors (tests/p4_vectors.py) on the software target, and on bmv2 where installed."""
from __future__ import annotations

import select
import socket
import struct
import time

import pytest

from netkit.p4.target import PortSpec, get_target
from p4_vectors import CPU, VECTORS, Vector, install

PORTS = (1, 2, 3, 4)


class SoftwareHarness:
    """The software target in this process: P4Runtime for state, packet-in and packet-out; ports in memory."""

    def __init__(self, tmp_path):
        self.target = get_target("software")
        self.target.start("127.0.0.1:0", [])
        self.out: list[tuple[int, bytes]] = []
        for p in PORTS:
            self.target.switch.ports[p] = lambda data, p=p: self.out.append((p, data))
        self.client = self.target.connect()
        self.client.set_pipeline(*_compiled(self.target, tmp_path))

    def send(self, port: int, data: bytes, expect_cpu: int, expect_ports: int) -> list[tuple[int, bytes]]:
        self.out.clear()
        if port == CPU:
            (egress,) = struct.unpack_from("!H", data)
            self.client.packet_out(data[2:], egress_port=egress)
            deadline = time.monotonic() + 2
            while len(self.out) < expect_ports and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            self.target.switch.receive(port, data)
        return list(self.out) + _packet_ins(self.client, expect_cpu)

    def close(self) -> None:
        self.client.close()
        self.target.stop()


def _compiled(target, tmp_path):
    c = target.compile("sfu", tmp_path / target.name)
    return c.p4info, c.device_config


def _packet_ins(client, expected: int) -> list[tuple[int, bytes]]:
    got = []
    for _ in range(expected):
        pin = client.packet_in(timeout_s=2)
        if pin is None:
            break
        got.append((CPU, struct.pack("!HB", pin.metadata["ingress_port"], pin.metadata["reason"]) + pin.payload))
    extra = client.packet_in(timeout_s=0.05)
    if extra is not None:
        got.append((CPU, struct.pack("!HB", extra.metadata["ingress_port"], extra.metadata["reason"]) + extra.payload))
    return got


class Bmv2Harness:
    """simple_switch_grpc with ports on veth pairs in a scratch namespace; frames injected and captured there."""

    def __init__(self, tmp_path, ns: str):
        from netkit.emu import netns
        from netkit.emu.testing import run_in

        self.ns = ns
        netns.write_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        for p in PORTS:
            run_in(ns, ["ip", "link", "add", f"sw{p}", "type", "veth", "peer", "name", f"h{p}"], check=True)
            for dev in (f"sw{p}", f"h{p}"):
                run_in(ns, ["ip", "link", "set", dev, "up"], check=True)
        self.target = get_target("bmv2")
        self.target.start(f"unix:{tmp_path}/bmv2.sock", [PortSpec(p, f"sw{p}", ns) for p in PORTS])
        self.socks = {}
        with netns.enter(ns):
            for p in PORTS:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
                s.bind((f"h{p}", 0))
                self.socks[p] = s
        self.client = self.target.connect()
        self.client.set_pipeline(*_compiled(self.target, tmp_path))

    def send(self, port: int, data: bytes, expect_cpu: int, expect_ports: int) -> list[tuple[int, bytes]]:
        if port == CPU:
            (egress,) = struct.unpack_from("!H", data)
            self.client.packet_out(data[2:], egress_port=egress)
        else:
            self.socks[port].send(data)
        got, deadline = [], time.monotonic() + 0.5
        while time.monotonic() < deadline:
            ready, _, _ = select.select(list(self.socks.values()), [], [], 0.05)
            for s in ready:
                frame, addr = s.recvfrom(65535)
                if addr[2] != 4:   # not our own transmission
                    got.append((next(p for p, q in self.socks.items() if q is s), frame))
        return got + _packet_ins(self.client, expect_cpu)

    def close(self) -> None:
        self.client.close()
        self.target.stop()
        for s in self.socks.values():
            s.close()


def _run(harness, vector: Vector) -> None:
    install(harness.client, vector.state)
    for i, ((port, data), expected) in enumerate(zip(vector.steps, vector.expect)):
        got = harness.send(port, data, sum(1 for p, _ in expected if p == CPU),
                           sum(1 for p, _ in expected if p != CPU))
        assert sorted(got) == sorted(expected), (
            f"{vector.name}: step {i} (packet on port {port}): got ports {sorted(p for p, _ in got)}, "
            f"expected {sorted(p for p, _ in expected)}" + _diff(got, expected))


def _diff(got, expected) -> str:
    extra = [f"{p}:{d.hex()}" for p, d in got if (p, d) not in expected]
    missing = [f"{p}:{d.hex()}" for p, d in expected if (p, d) not in got]
    return f"\n unexpected {extra}\n missing {missing}"


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_software(vector, tmp_path):
    h = SoftwareHarness(tmp_path)
    try:
        _run(h, vector)
    finally:
        h.close()


def _bmv2_skip() -> str | None:
    from netkit.emu.testing import skip_reason

    a = get_target("bmv2").available()
    return a.reason.split(";")[0] if not a.usable else skip_reason("ip")


@pytest.mark.emu
@pytest.mark.skipif(_bmv2_skip() is not None, reason=f"bmv2: {_bmv2_skip()}")
@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_bmv2(vector, tmp_path):
    from netkit.emu.testing import scratch_namespace

    with scratch_namespace("p4v") as ns:
        h = Bmv2Harness(tmp_path, ns)
        try:
            _run(h, vector)
        finally:
            h.close()


def test_seq_vector_is_gap_free_per_receiver():
    """The expectations themselves: each receiver's delivered numbers form one run without holes."""
    v = next(v for v in VECTORS if v.name.startswith("gap-free"))
    by_receiver: dict[int, set[int]] = {}
    for outs in v.expect:
        for port, frame in outs:
            by_receiver.setdefault(port, set()).add(struct.unpack_from("!H", frame, 42 + 2)[0])
    assert set(by_receiver) == {2, 3, 4}
    for r, seqs in by_receiver.items():
        assert seqs == set(range(min(seqs), max(seqs) + 1)), (r, sorted(seqs))
    assert len(by_receiver[3]) < len(by_receiver[4]) < len(by_receiver[2])

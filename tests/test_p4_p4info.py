"""The committed P4Info against p4c's conventions, the v1model source and the software target (and p4c, where present)."""
from __future__ import annotations

import re
import shutil

import grpc
import pytest
from p4.config.v1 import p4info_pb2

from netkit.p4.client import P4RuntimeClient, P4RuntimeError
from netkit.p4.p4info import PREFIX, load_p4info, p4c_ids
from netkit.p4.software import sfu
from netkit.p4.software.device import SoftwareSwitch
from netkit.p4.software.server import serve
from netkit.p4.target import REPO_P4

P4INFO = REPO_P4 / "sfu" / "build" / "sfu.p4info.txtpb"
SOURCE = REPO_P4 / "sfu" / "sfu_v1model.p4"
INCLUDES = REPO_P4 / "sfu" / "include"


@pytest.fixture(scope="module")
def info() -> p4info_pb2.P4Info:
    return load_p4info(P4INFO)


def test_ids_follow_p4c_conventions(info):
    groups = {"table": info.tables, "action": info.actions, "counter": info.counters,
              "register": info.registers, "controller_header": info.controller_packet_metadata}
    for kind, objs in groups.items():
        names = [o.preamble.name for o in objs]
        expected = p4c_ids(kind, names)
        for o in objs:
            assert o.preamble.id >> 24 == PREFIX[kind], o.preamble.name
            assert o.preamble.id == expected[o.preamble.name], o.preamble.name
    assert {a.preamble.name: a.preamble.id for a in info.actions}["NoAction"] == 21257015  # as every p4c build
    for t in info.tables:
        assert [m.id for m in t.match_fields] == list(range(1, len(t.match_fields) + 1))
    for a in info.actions:
        assert [p.id for p in a.params] == list(range(1, len(a.params) + 1))


def test_software_target_implements_exactly_the_p4info(info):
    assert sfu.p4info_differences(info) == []
    names = {t.preamble.name for t in info.tables}
    assert names == set(sfu.TABLES)
    assert {r.preamble.name for r in info.registers} == set(sfu.REGISTERS)
    assert {c.preamble.name for c in info.counters} == set(sfu.COUNTERS)


def test_a_different_p4info_is_refused_with_invalid_argument(info, tmp_path):
    other = p4info_pb2.P4Info()
    other.CopyFrom(info)
    other.tables[0].match_fields[0].bitwidth = 16
    assert any("SfuIngress.stream" in p for p in sfu.p4info_differences(other))
    switch = SoftwareSwitch()
    server, port = serve(switch, "127.0.0.1:0")
    try:
        with P4RuntimeClient(f"127.0.0.1:{port}") as client:
            with pytest.raises(P4RuntimeError) as exc:
                client.set_pipeline(other)
            assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
            client.set_pipeline(info)      # the right one still loads afterwards
            assert switch.pipeline is not None
    finally:
        server.stop(0)


def _source() -> str:
    text = SOURCE.read_text()
    for inc in INCLUDES.glob("*.p4"):
        text += "\n" + inc.read_text()
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def _block(text: str, start: int) -> str:
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise AssertionError("unbalanced braces")


def _controls(text: str) -> dict[str, str]:
    return {m.group(1): _block(text, m.end()) for m in re.finditer(r"control\s+(\w+)\s*\(", text)}


def test_p4info_matches_the_v1model_source(info):
    """Every table, key, action, parameter, counter, register and controller header is declared as in the P4Info."""
    text = _source()
    controls = _controls(text)
    kinds = {p4info_pb2.MatchField.EXACT: "exact", p4info_pb2.MatchField.TERNARY: "ternary"}
    for t in info.tables:
        control, name = t.preamble.name.split(".")
        m = re.search(rf"table\s+{name}\s*\{{", controls[control])
        assert m, t.preamble.name
        body = _block(controls[control], m.start())
        keys = re.findall(r"(\S+)\s*:\s*(\w+)\s*@name\(\"(\w+)\"\)", body)
        assert [(k[2], k[1]) for k in keys] == [(f.name, kinds[f.match_type]) for f in t.match_fields]
        assert re.search(rf"size\s*=\s*{t.size}\s*;", body), t.preamble.name
    for a in info.actions:
        if a.preamble.name == "NoAction":
            continue
        control, name = a.preamble.name.split(".")
        m = re.search(rf"action\s+{name}\s*\(([^)]*)\)", controls[control])
        assert m, a.preamble.name
        params = [(p.split()[-1], int(re.search(r"bit<(\d+)>", p).group(1))) for p in m.group(1).split(",") if p.strip()]
        assert params == [(p.name, p.bitwidth) for p in a.params], a.preamble.name
    for c in info.counters:
        control, name = c.preamble.name.split(".")
        unit = {p4info_pb2.CounterSpec.BOTH: "packets_and_bytes", p4info_pb2.CounterSpec.PACKETS: "packets"}[c.spec.unit]
        assert re.search(rf"counter\({c.size},\s*CounterType\.{unit}\)\s*{name}\s*;", controls[control]), c.preamble.name
    for r in info.registers:
        control, name = r.preamble.name.split(".")
        assert re.search(rf"register<bit<{r.type_spec.bitstring.bit.bitwidth}>>\({r.size}\)\s*{name}\s*;",
                         controls[control]), r.preamble.name
    for h in info.controller_packet_metadata:
        m = re.search(rf"@controller_header\(\"{h.preamble.name}\"\)\s*header\s+\w+\s*\{{([^}}]*)\}}", text)
        assert m, h.preamble.name
        fields = re.findall(r"bit<(\d+)>\s+(\w+);", m.group(1))
        assert [(n, int(w)) for w, n in fields] == [(f.name, f.bitwidth) for f in h.metadata]


def test_multicast_and_replica_limits_follow_the_program(info):
    """mcast_grp and egress_rid are 16 bits in v1model, ports 9 bits: the PRE accepts exactly those ranges."""
    switch = SoftwareSwitch()
    server, port = serve(switch, "127.0.0.1:0")
    try:
        with P4RuntimeClient(f"127.0.0.1:{port}") as c:
            c.set_pipeline(info)
            c.insert(c.multicast_group(2 ** sfu.MULTICAST_GROUP_BITS - 1, [(2 ** sfu.PORT_BITS - 2, 2 ** 16 - 1)]))
            for bad in ([(1, 1)], [(1, 2 ** 16)], [(2 ** sfu.PORT_BITS, 1)], [(1, 1), (1, 1)]):
                gid = 0 if bad == [(1, 1)] else 7
                with pytest.raises(P4RuntimeError) as exc:
                    c.insert(c.multicast_group(gid, bad))
                assert exc.value.codes == ["INVALID_ARGUMENT"], bad
            assert list(c.read_multicast_groups()) == [2 ** 16 - 1]
    finally:
        server.stop(0)


@pytest.mark.skipif(shutil.which("p4c") is None, reason="p4c is not installed (see netkit p4 targets)")
def test_p4c_regenerates_the_committed_p4info(info, tmp_path):
    from netkit.p4.bmv2 import Bmv2Target

    fresh = load_p4info(Bmv2Target().compile("sfu", tmp_path).p4info)

    def shape(i):
        acts = {a.preamble.id: (a.preamble.name, [(p.id, p.name, p.bitwidth) for p in a.params]) for a in i.actions}
        return ({t.preamble.name: (t.preamble.id, [(m.id, m.name, m.bitwidth, m.match_type) for m in t.match_fields],
                                   sorted((acts[r.id], r.scope) for r in t.action_refs), t.size) for t in i.tables},
                {c.preamble.name: (c.preamble.id, c.size, c.spec.unit) for c in i.counters},
                {r.preamble.name: (r.preamble.id, r.size, r.type_spec.bitstring.bit.bitwidth) for r in i.registers},
                {h.preamble.name: (h.preamble.id, [(m.id, m.name, m.bitwidth) for m in h.metadata])
                 for h in i.controller_packet_metadata})

    assert shape(fresh) == shape(info)

"""RTX on a separate SSRC (RFC 4588) through the SFU: negotiated at join, one more stream to the data plane with its
own numbering per receiver, its OSN rewritten to the number the receiver got the original as."""
from __future__ import annotations

import pytest

from netkit.apps.sfu.sim import MeetingPlan, run_meetings


@pytest.fixture(scope="module")
def runs():
    plan = MeetingPlan(participants=3, traces=("constant:10", "constant:1", "constant:10"), duration_s=4.0,
                       warmup_s=1.5, decode=False, up_loss=0.02, rtx=True)
    return {sfu: run_meetings(plan, sfu) for sfu in ("scallop", "software")}


@pytest.mark.parametrize("sfu", ["scallop", "software"])
def test_nacked_losses_are_recovered_over_the_rtx_ssrc_gap_free(runs, sfu):
    s = runs[sfu]
    rows = s["receivers"]
    recovered = sum(r["recovered"] for r in rows)
    assert sum(r["nacks"] for r in rows) > 0 and recovered > 0
    assert s["rtx_restored"] >= recovered           # every recovery came in on an RTX SSRC (none on the media SSRC)
    assert all(r["rtx_packets"] > 0 for r in rows if r["recovered"])
    assert s["seq_gaps"] == 0 and s["rtx_seq_gaps"] == 0           # media and RTX numbering gap-free per receiver
    assert not s["bad_input"]                                      # the RTX SSRCs are known streams
    assert all(r["fps"] >= 27 for r in rows if r["receiver"] != "m1p2")
    assert all(7 <= r["fps"] < 20 for r in rows if r["receiver"] == "m1p2")


def test_both_sfus_make_the_same_rtx_decisions(runs):
    a, b = runs["scallop"]["receivers"], runs["software"]["receivers"]
    assert [(r["receiver"], r["sender"], r["recovered"], r["rtx_packets"], r["fps"]) for r in a] == \
           [(r["receiver"], r["sender"], r["recovered"], r["rtx_packets"], r["fps"]) for r in b]


def test_rtx_is_negotiated_per_stream_at_join():
    from netkit.apps.sfu.control import SfuControl
    from netkit.apps.sfu.software import SoftwareForwarder

    ctl = SfuControl(SoftwareForwarder(lambda to, payload: None), "10.0.0.254", 5004)
    ctl.backend.control = ctl
    assert ctl.signal({"type": "create", "meeting": "m"})["ok"]
    base = {"type": "join", "meeting": "m", "ip": "10.1.0.1", "mac": 1, "switch_port": 1}
    r = ctl.signal({**base, "participant": "a", "port": 1, "ssrc": 0x10, "rtx_ssrc": 0x11, "rtx_pt": 97})
    assert r["ok"] and r["rtx"] == {"ssrc": 0x11, "pt": 97, "apt": 96}
    assert not ctl.signal({**base, "participant": "b", "port": 2, "ssrc": 0x20, "rtx_ssrc": 0x11})["ok"]   # taken
    assert not ctl.signal({**base, "participant": "b", "port": 2, "ssrc": 0x20, "rtx_ssrc": 0x21,
                           "rtx_pt": 98})["ok"]                      # the data plane's RTX payload type is 97
    r = ctl.signal({**base, "participant": "b", "port": 2, "ssrc": 0x20})     # no RTX: retransmits on 0x20
    assert r["ok"] and "rtx" not in r
    a, b = (ctl.meetings["m"].participants[x] for x in "ab")
    assert set(b.slots) == {a.stream_id, a.rtx_stream_id} and set(a.slots) == {b.stream_id}


def test_p4_data_plane_rewrites_the_osn_and_drops_rtx_of_a_layer_the_receiver_does_not_get():
    import struct

    from netkit.apps.sfu.control import SfuControl
    from netkit.apps.sfu.dataplane import LocalP4Runtime
    from netkit.apps.sfu.p4backend import P4Backend
    from netkit.apps.sfu.sim import P4INFO
    from netkit.apps.sfu.wire import ETHERNET_IPV4, parse_udp_ipv4, udp_ipv4
    from netkit.p4.p4info import load_p4info
    from netkit.p4.software.device import SoftwareSwitch

    sw = SoftwareSwitch()
    sw.set_pipeline(load_p4info(P4INFO))
    backend = P4Backend(LocalP4Runtime(sw, packet_out=lambda frame, port: None), "10.0.0.254", 5004)
    ctl = SfuControl(backend, "10.0.0.254", 5004)
    assert ctl.signal({"type": "create", "meeting": "m"})["ok"]
    for i in (1, 2, 3):
        assert ctl.signal({"type": "join", "meeting": "m", "participant": f"p{i}", "ip": f"10.0.0.{i}",
                           "port": 6000 + i, "mac": i, "switch_port": i, "ssrc": 0x100 * i,
                           "rtx_ssrc": 0x100 * i + 1})["ok"]
    backend.set_layer(ctl.meetings["m"].participants["p3"], 0)      # p3 gets layer 0 only

    def send(payload):
        frame = ETHERNET_IPV4 + udp_ipv4("10.0.0.1", "10.0.0.254", 6001, 5004, payload)
        return {p: parse_udp_ipv4(f[14:]).payload for p, f in sw.process(1, frame)}

    def media(seq, tid):
        desc = bytes([0x90, 0xE0, 0x80, seq & 0xFF, 0x11, tid << 6 | 0x20])
        return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x100) + desc + b"frame"

    def rtx(seq, osn):
        return struct.pack("!BBHII", 0x80, 97, seq, osn * 3000, 0x101) + struct.pack("!H", osn) + b"data"

    got = {seq: send(media(seq, tid)) for seq, tid in ((500, 0), (501, 2), (502, 0))}
    number = {(seq, p): struct.unpack("!H", pl[2:4])[0] for seq, outs in got.items() for p, pl in outs.items()}
    assert set(got[501]) == {2} and set(got[502]) == {2, 3}          # p3 never got 501
    first = send(rtx(40, 501))                                        # RTX of the layer-2 packet: p2 only
    assert set(first) == {2} and struct.unpack("!H", first[2][12:14])[0] == number[(501, 2)]
    second = send(rtx(41, 502))                                       # both, each OSN in its own numbering
    assert set(second) == {2, 3}
    for p in (2, 3):
        assert struct.unpack("!H", second[p][12:14])[0] == number[(502, p)]
    seq = {p: [struct.unpack("!H", out[p][2:4])[0] for out in (first, second) if p in out] for p in (2, 3)}
    assert seq[2][1] == (seq[2][0] + 1) & 0xFFFF and len(seq[3]) == 1    # RTX numbering gap-free per receiver

"""SFU control plane: meeting state written over P4Runtime, layer choice with hysteresis, NACK mapping,
STUN answers, RTCP routing to the control plane and bad input counted and dropped."""
from __future__ import annotations

import struct

from aioice import stun
from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtcpRtpfbPacket, pack_remb_fci

from netkit.apps.sfu.control import SFU_SSRC, SfuControl
from netkit.apps.sfu.dataplane import LocalP4Runtime
from netkit.apps.sfu.layers import LayerChooser, LayerPolicy
from netkit.apps.sfu.p4backend import P4Backend
from netkit.apps.sfu.wire import ETHERNET_IPV4, parse_udp_ipv4, udp_ipv4
from netkit.p4.p4info import load_p4info
from netkit.p4.software.device import SoftwareSwitch

SFU_IP, SFU_PORT = "10.0.0.254", 5004


def _switch():
    from pathlib import Path
    sw = SoftwareSwitch()
    sw.set_pipeline(load_p4info(Path(__file__).resolve().parents[1] / "p4/sfu/build/sfu.p4info.txtpb"))
    return sw


def _meeting(n=3):
    sw = _switch()
    out: list[tuple[int, bytes]] = []
    client = LocalP4Runtime(sw, packet_out=lambda frame, port: out.append((port, frame)))
    ctl = SfuControl(P4Backend(client, SFU_IP, SFU_PORT), SFU_IP, SFU_PORT)
    assert ctl.signal({"type": "create", "meeting": "m"})["ok"]
    for i in range(1, n + 1):
        r = ctl.signal({"type": "join", "meeting": "m", "participant": f"p{i}", "ip": f"10.0.0.{i}",
                        "port": 6000 + i, "mac": 0x020000000000 + i, "switch_port": i, "ssrc": 0x100 * i})
        assert r["ok"], r
    return sw, client, ctl, out


def _rtp(seq, tid, ssrc):
    desc = bytes([0x90, 0xE0, 0x80, seq & 0xFF, 0x11, tid << 6 | 0x20])
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + desc + b"frame"


def _send(sw, i, payload):
    """Participant i sends a UDP payload to the SFU; returns [(port, Datagram)] the switch emits."""
    frame = ETHERNET_IPV4 + udp_ipv4(f"10.0.0.{i}", SFU_IP, 6000 + i, SFU_PORT, payload)
    return [(p, f if p == 255 else parse_udp_ipv4(f[14:])) for p, f in sw.process(i, frame)]


def test_meeting_replicates_to_every_other_participant_with_rewrite():
    sw, client, ctl, _ = _meeting(3)
    for sender in (1, 2, 3):
        outs = _send(sw, sender, _rtp(10, 0, 0x100 * sender))
        assert sorted(p for p, _ in outs) == [r for r in (1, 2, 3) if r != sender]
        for port, d in outs:
            assert (d.src, d.sport, d.dst, d.dport) == (SFU_IP, SFU_PORT, f"10.0.0.{port}", 6000 + port)
    assert len(client.read_table("stream_receiver")) == 6 and len(client.read_multicast_groups()[1]) == 3


def test_layer_choice_hysteresis():
    ch = LayerChooser(LayerPolicy(alpha=1.0, up_hold_us=1_000_000))
    assert ch.update(3e6, 0) == 2
    assert ch.update(1.5e6, 100_000) == 1            # down at once
    assert ch.update(0.5e6, 200_000) == 0
    assert ch.update(1.1e6, 300_000) == 0            # above 1 Mbit/s but not by the 15% margin
    assert ch.update(1.2e6, 400_000) == 0            # margin met: the hold starts
    assert ch.update(1.2e6, 1_300_000) == 0
    assert ch.update(1.2e6, 1_400_000) == 1          # held 1 s: up
    assert ch.update(2.5e6, 1_500_000) == 1
    assert ch.update(0.9e6, 1_600_000) == 0          # a dip resets and moves down
    smooth = LayerChooser(LayerPolicy(alpha=0.5))
    smooth.update(3e6, 0)
    assert smooth.update(1.5e6, 1) == 2              # smoothed 2.25 Mbit/s: one low report does not move it


def test_remb_moves_receiver_down_in_data_plane_and_pli_on_move_up():
    sw, client, ctl, out = _meeting(3)
    ctl.policy = LayerPolicy(alpha=1.0, up_hold_us=0)
    for p in ctl.meetings["m"].participants.values():
        p.chooser.policy = ctl.policy
    remb = bytes(RtcpPsfbPacket(fmt=15, ssrc=0x300, media_ssrc=0, fci=pack_remb_fci(500_000, [0x100])))
    outs = _send(sw, 3, remb)
    assert [p for p, _ in outs] == [255]                         # REMB goes to the controller
    ctl.packet(("10.0.0.3", 6003), remb, 0)
    assert ctl.layer_changes == [(0, "p3", 2, 0)]
    layers = {r["match"]["egress_rid"]: r["params"]["max_tid"] for r in client.read_table("receiver_layer")}
    assert layers[ctl.meetings["m"].participants["p3"].rid] == 0
    got = [p for p, _ in _send(sw, 1, _rtp(11, 2, 0x100))]
    assert got == [2]                                            # layer 2 no longer reaches p3
    out.clear()
    up = bytes(RtcpPsfbPacket(fmt=15, ssrc=0x300, media_ssrc=0, fci=pack_remb_fci(5_000_000, [0x100])))
    ctl.packet(("10.0.0.3", 6003), up, 1_000)
    ctl.packet(("10.0.0.3", 6003), up, 2_000)
    assert ctl.meetings["m"].participants["p3"].chooser.tid == 2
    plis = [(port, RtcpPacket.parse(parse_udp_ipv4(f[14:]).payload)[0]) for port, f in out]
    assert sorted((port, pkt.fmt, pkt.media_ssrc) for port, pkt in plis) == [(1, 1, 0x100), (2, 1, 0x200)]


def test_nack_mapped_to_sender_sequence_numbers():
    sw, client, ctl, out = _meeting(3)
    ctl.policy = LayerPolicy(alpha=1.0)
    p3 = ctl.meetings["m"].participants["p3"]
    p3.chooser = LayerChooser(ctl.policy, tid=0)
    ctl.backend.set_layer(p3, 0)
    seqs3 = []
    for seq, tid in [(100, 0), (101, 2), (102, 1), (103, 2), (104, 0), (108, 0)]:
        for port, d in _send(sw, 1, _rtp(seq, tid, 0x100)):
            if port == 3:
                seqs3.append(struct.unpack_from("!H", d.payload, 2)[0])
    # 104 -> 101 (layers 1, 2 dropped); 105..107 lost before the SFU keep 102..104, so 108 -> 105
    assert seqs3 == [100, 101, 105]
    nack = bytes(RtcpRtpfbPacket(fmt=1, ssrc=0x300, media_ssrc=0x100, lost=[101, 102, 105]))
    assert [p for p, _ in _send(sw, 3, nack)] == [255]
    out.clear()
    ctl.packet(("10.0.0.3", 6003), nack, 0)
    ((port, frame),) = out
    pkt = RtcpPacket.parse(parse_udp_ipv4(frame[14:]).payload)[0]
    assert port == 1 and pkt.media_ssrc == 0x100 and pkt.ssrc == SFU_SSRC and pkt.lost == [104, 105, 108]


def test_stun_binding_answered_by_packet_out():
    sw, client, ctl, out = _meeting(2)
    req = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    ((port, frame),) = _send(sw, 2, bytes(req))
    assert port == 255 and frame[2] == 1                          # packet_in reason STUN
    ctl.packet(("10.0.0.2", 6002), bytes(req), 0)
    ((eport, reply),) = out
    d = parse_udp_ipv4(reply[14:])
    msg = stun.parse_message(d.payload)
    assert eport == 2 and msg.message_class == stun.Class.RESPONSE and msg.transaction_id == req.transaction_id
    assert msg.attributes["XOR-MAPPED-ADDRESS"] == ("10.0.0.2", 6002) and (d.dst, d.dport) == ("10.0.0.2", 6002)


def test_bad_input_counted_and_dropped(caplog):
    sw, client, ctl, out = _meeting(3)
    src = ("10.0.0.2", 6002)
    ctl.packet(src, b"\x80\xc9\x00\x07" + bytes(8), 0)                         # RTCP with a length past the end
    ctl.packet(src, b"\x00\x01\x00\x08\x21\x12\xa4\x42" + bytes(12), 0)  # STUN header, body missing
    ctl.packet(src, _rtp(1, 0, 0xDEAD), 0)                              # unknown SSRC
    ctl.packet(src, b"\xff" * 5, 0)
    ctl.packet(src, bytes(RtcpRtpfbPacket(fmt=1, ssrc=0x200, media_ssrc=0xBEEF, lost=[1])), 0)
    stranger = ("10.0.0.99", 7000)                                      # sends, but never joined
    ctl.packet(stranger, bytes(stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)), 0)
    ctl.packet(stranger, bytes(RtcpRtpfbPacket(fmt=1, ssrc=0x200, media_ssrc=0x100, lost=[1])), 0)
    assert ctl.signal({"type": "join", "meeting": "nope", "participant": "x", "ip": "1.2.3.4", "port": 1,
                       "mac": 1, "switch_port": 9, "ssrc": 9})["ok"] is False
    assert ctl.signal({"type": "join", "meeting": "m", "participant": "q"})["ok"] is False
    assert ctl.signal("garbage")["ok"] is False
    assert ctl.signal({"type": "leave", "meeting": "m", "participant": "ghost"})["ok"] is False
    assert dict(ctl.bad) == {"malformed_rtcp": 1, "malformed_stun": 1, "unknown_ssrc": 2, "malformed": 1,
                             "unknown_meeting": 1, "bad_signal": 2, "unknown_participant": 3}
    assert out == [] and "unknown meeting 'nope'" in caplog.text
    assert "STUN binding request from 10.0.0.99:7000, not a participant" in caplog.text
    assert "RTCP from 10.0.0.99:7000, not a participant" in caplog.text
    assert sorted(p for p, _ in _send(sw, 1, _rtp(5, 0, 0x100))) == [2, 3]   # still serving
    assert ctl.signal({"type": "leave", "meeting": "m", "participant": "p3"})["ok"]
    assert [p for p, _ in _send(sw, 1, _rtp(6, 0, 0x100))] == [2]
    ((port, frame),) = _send(sw, 3, _rtp(6, 0, 0x300))    # a left participant's stream: to the controller only
    assert port == 255 and frame[2] == 3                    # packet_in reason 3, unknown stream

"""TWCC for the SFU: the transport-wide sequence extension (aiortc's header extension map), transport-cc feedback
(RTPFB FMT 15) and the senders' send logs, and a receiver behind 1 Mbit/s moved down on TWCC alone (simulator)."""
from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RtcpPacket, RtcpRtpfbPacket, RtpPacket

from netkit.apps.sfu.twcc import (TW_MAP, pack_feedback, pack_send_log, parse_feedback, parse_send_log, rtcp_parts,
                                  set_tw_seq)


def test_transport_wide_number_is_an_rfc8285_one_byte_extension_aiortc_and_scapy_read():
    from scapy.layers.rtp import RTP

    p = RtpPacket(payload_type=96, sequence_number=7, timestamp=9, ssrc=0x1234, payload=b"\x90\x80abc")
    p.extensions.transport_sequence_number = 0xFFFE
    data = p.serialize(TW_MAP)
    assert data[0] & 0x10 and data[12:14] == b"\xbe\xde" and data[16] == (3 << 4) | 1     # id 3, two bytes
    assert RtpPacket.parse(data, TW_MAP).extensions.transport_sequence_number == 0xFFFE
    assert RtpPacket.parse(data).payload == b"\x90\x80abc"          # a client without the map still finds the payload
    again = RtpPacket.parse(set_tw_seq(data, 5), TW_MAP)
    assert again.extensions.transport_sequence_number == 5 and again.sequence_number == 7
    s = RTP(data)
    assert s.extension == 1 and s.sequence == 7 and s.sourcesync == 0x1234


def test_feedback_round_trips_losses_large_and_negative_deltas_and_aiortc_walks_the_compound():
    arrivals = [1_000_000, None, 1_000_250, 1_090_000, None, None, 1_089_500] + [1_100_000 + 1000 * k for k in range(20)]
    fb = pack_feedback(0xAAAA, 0xBBBB, 65530, arrivals, 3)
    assert len(fb) % 4 == 0 and fb[1] == 205 and fb[0] & 0x1F == 15
    (pkt,) = RtcpPacket.parse(fb)
    assert isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == 15 and (pkt.ssrc, pkt.media_ssrc) == (0xAAAA, 0xBBBB)
    sender, media, got = parse_feedback(fb[4:])
    assert (sender, media) == (0xAAAA, 0xBBBB)
    assert [s for s, _ in got] == [(65530 + k) & 0xFFFF for k in range(len(arrivals))]      # wraps past 65535
    for (_, t), want in zip(got, arrivals):
        assert (t is None) == (want is None) and (want is None or abs(t - want) < 250)
    with pytest.raises(ValueError):
        parse_feedback(fb[4:20])                                     # cut inside the chunks


def test_feedback_parser_reads_run_length_and_one_bit_chunks():
    # 3 packets received (run-length chunk, small deltas), then a one-bit vector: 14 statuses, first two received
    body = struct.pack("!IIHHI", 1, 2, 100, 17, (10 << 8) | 0)
    body += struct.pack("!H", (1 << 13) | 3) + struct.pack("!H", 0x8000 | (1 << 13) | (1 << 12))
    body += bytes([4, 4, 4, 8, 8])
    _, _, got = parse_feedback(body + bytes(-len(body) % 4))
    base = 10 * 64_000
    assert [t for _, t in got[:5]] == [base + 1000, base + 2000, base + 3000, base + 5000, base + 7000]
    assert all(t is None for _, t in got[5:]) and len(got) == 17


def test_send_log_round_trips_in_a_compound():
    entries = [(65535, 5_000_000, 1140), (0, 5_000_000, 1140), (1, 5_033_333, 600)]
    app = pack_send_log(0x1001, entries)
    assert RtcpPacket.parse(app) == []                               # aiortc skips APP packets
    ((pt, _sub, body),) = list(rtcp_parts(app))
    assert pt == 204 and parse_send_log(body) == (0x1001, entries)


def test_a_twcc_receiver_behind_1_mbit_is_moved_down_by_transport_cc_feedback():
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings

    plan = MeetingPlan(participants=4, traces=("constant:10", "constant:1", "constant:10", "constant:10"),
                       duration_s=4.0, warmup_s=1.5, decode=False, twcc=(0, 1))
    s = run_meetings(plan, "scallop")
    src = s["estimates_by_source"]
    assert set(src["m1p2"]) == {"twcc"} and set(src["m1p1"]) == {"twcc"} and set(src["m1p3"]) == {"remb"}
    moves = [c for c in s["layer_changes"] if c["receiver"] == "m1p2"]
    assert moves and moves[0]["t_s"] <= 2.0 and moves[-1]["to"] == 0, moves
    assert not [c for c in s["layer_changes"] if c["receiver"] != "m1p2"]       # the 10 Mbit/s TWCC receiver stays
    rows = {(r["receiver"], r["sender"]): r for r in s["receivers"]}
    assert all(r["fps"] >= 7 and r["max_freeze_ms"] <= 500 for k, r in rows.items() if k[0] == "m1p2")
    assert all(r["fps"] >= 29 for k, r in rows.items() if k[0] != "m1p2")
    assert s["cpu_packets_fraction"] <= 0.035 and s["cpu_packets_by_kind"].get("rtcp_rr+twcc", 0) > 0
    assert s["seq_gaps"] == 0 and not s["bad_input"]


def test_malformed_transport_cc_feedback_is_counted_and_dropped(caplog):
    from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket, pack_rtcp_packet

    from netkit.apps.sfu.control import SfuControl
    from netkit.apps.sfu.software import SoftwareForwarder

    ctl = SfuControl(SoftwareForwarder(lambda to, payload: None), "10.0.0.254", 5004)
    ctl.backend.control = ctl
    assert ctl.signal({"type": "create", "meeting": "m"})["ok"]
    for i in (1, 2):
        assert ctl.signal({"type": "join", "meeting": "m", "participant": f"p{i}", "ip": f"10.1.0.{i}", "port": 6000,
                           "mac": i, "switch_port": i, "ssrc": 0x100 * i})["ok"]
    rr = bytes(RtcpRrPacket(ssrc=0x100, reports=[RtcpReceiverInfo(ssrc=0x200, fraction_lost=0, packets_lost=0,
                                                                   highest_sequence=1, jitter=0, lsr=0, dlsr=0)]))
    cut = pack_rtcp_packet(205, 15, struct.pack("!II", 0x100, 0x200))          # no base/count/reference time
    ctl.packet(("10.1.0.1", 6000), rr + cut, 1000)
    assert ctl.bad["malformed_rtcp"] == 1 and not ctl.estimates
    good = pack_feedback(0x100, 0x200, 0, [1000, 2000], 1)
    ctl.packet(("10.1.0.1", 6000), rr + good, 2000)          # still served; nothing to match yet: no estimate
    assert ctl.bad["malformed_rtcp"] == 1 and "p1" not in {w for _, w, _, _ in ctl.estimates}

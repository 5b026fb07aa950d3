"""PTF-style packet test vectors for the SFU program: table state + input packets -> expected packets on ports.

One table (VECTORS), run against every target by tests/test_p4_vectors.py: the software target always,
bmv2 where p4c and simple_switch_grpc are installed. Packets are built with scapy. A packet for or from
the controller is written as it crosses the CPU port: packet_in header (ingress_port:16, reason:8) or
packet_out header (egress_port:16) followed by the frame.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from scapy.all import ARP, Ether, IP, UDP, Raw, raw
from scapy.contrib.rtcp import RTCP, SenderInfo
from scapy.contrib.stun import STUN
from scapy.layers.rtp import RTP, RTPExtension

CPU = 255
SFU_MAC, SFU_IP, SFU_PORT = "02:00:00:00:00:fe", "10.0.0.254", 5004
VP8_PT, AV1_PT = 96, 45
SSRC_A, SSRC_B = 0xA1, 0xB2          # participant 1 sends VP8, participant 2 sends AV1
REASON_STUN, REASON_RTCP, REASON_OTHER, REASON_NO_FEEDBACK = 1, 2, 4, 5


def mac(i: int) -> str:
    return f"02:00:00:00:00:{i:02x}"


def ip(i: int) -> str:
    return f"10.0.0.{i}"


def mac_int(m: str) -> int:
    return int(m.replace(":", ""), 16)


def ip_int(a: str) -> int:
    return int.from_bytes(bytes(int(x) for x in a.split(".")), "big")


# ----------------------------------------------------------------- packets
def from_participant(i: int, payload) -> bytes:
    """A UDP packet participant i sends to the SFU."""
    return raw(Ether(src=mac(i), dst=SFU_MAC) / IP(src=ip(i), dst=SFU_IP, id=7) /
               UDP(sport=6000 + i, dport=SFU_PORT) / payload)


def to_participant(i: int, payload) -> bytes:
    """The same payload as the SFU sends it to participant i: addresses rewritten, UDP checksum zero."""
    return raw(Ether(src=SFU_MAC, dst=mac(i)) / IP(src=SFU_IP, dst=ip(i), id=7) /
               UDP(sport=SFU_PORT, dport=6000 + i, chksum=0) / payload)


def vp8(seq: int, tid: int, ssrc: int = SSRC_A):
    """RTP with a VP8 payload descriptor: X, S; I (15-bit picture id), L (TL0PICIDX) and T with TID."""
    desc = bytes([0x90, 0xE0, 0x80 | (seq >> 8 & 0x7F), seq & 0xFF, 0x11, tid << 6 | 0x20])
    return RTP(payload_type=VP8_PT, sequence=seq, timestamp=3000 * seq, sourcesync=ssrc) / Raw(desc + b"vp8-frame")


def av1(seq: int, template: int, ssrc: int = SSRC_B):
    """RTP carrying an AV1 dependency descriptor as the first RFC 8285 one-byte extension (id 12)."""
    dd = (12 << 28) | (2 << 24) | (0xC0 | template) << 16 | seq   # id, len-1, SoF|EoF|template, frame number
    return (RTP(payload_type=AV1_PT, extension=1, sequence=seq, timestamp=3000 * seq, sourcesync=ssrc) /
            RTPExtension(header_id=0xBEDE, header_len=1, header=[dd]) / Raw(b"av1-obu"))


def rtcp_fb(pt: int, fmt: int, sender: int, media: int, fci: bytes = b"") -> Raw:
    """An RFC 4585 feedback packet (PLI/FIR PT 206, NACK/TWCC PT 205; FMT 15 app-layer such as REMB)."""
    body = struct.pack("!II", sender, media) + fci
    return Raw(struct.pack("!BBH", 0x80 | fmt, pt, len(body) // 4) + body)


def sender_report(ssrc: int) -> RTCP:
    return RTCP(packet_type=200, sourcesync=ssrc, sender_info=SenderInfo(
        ntp_timestamp=1, rtp_timestamp=2, sender_packet_count=3, sender_octet_count=4))


def receiver_report(ssrc: int) -> Raw:
    return Raw(struct.pack("!BBHI", 0x80, 201, 1, ssrc))


def to_cpu(port: int, reason: int, frame: bytes) -> bytes:
    return struct.pack("!HB", port, reason) + frame


def packet_out(port: int, frame: bytes) -> bytes:
    return struct.pack("!H", port) + frame


REMB = b"REMB" + bytes([1, 0x12, 0x34, 0x56]) + struct.pack("!I", SSRC_A)
TWCC = struct.pack("!HHI", 1, 1, 0) + b"\x20\x01\x00\x00"
NACK = struct.pack("!HH", 101, 0)


# ------------------------------------------------------------------ state
@dataclass
class State:
    """Table entries [(table, match, action, params, priority)] and multicast groups {id: [(port, rid)]}."""

    entries: list[tuple] = field(default_factory=list)
    groups: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def meeting_state(layers: dict[int, int] | None = None) -> State:
    """Four participants on ports 1..4 (replication id = port); A (1) sends VP8, B (2) sends AV1."""
    s = State(groups={1: [(p, p) for p in (1, 2, 3, 4)]})
    s.entries += [("stream", {"ssrc": SSRC_A}, "set_stream", {"stream_id": 1, "mcast_grp": 1, "sender_rid": 1}, 0),
                  ("stream", {"ssrc": SSRC_B}, "set_stream", {"stream_id": 2, "mcast_grp": 1, "sender_rid": 2}, 0)]
    for stream, sender in ((1, 1), (2, 2)):
        for r in (1, 2, 3, 4):
            if r != sender:
                s.entries.append(("stream_receiver", {"stream_id": stream, "egress_rid": r}, "set_slot",
                                  {"slot": (stream - 1) * 8 + r}, 0))
    for r in (1, 2, 3, 4):
        s.entries.append(("receiver_rewrite", {"rid": r}, "rewrite",
                          {"src_mac": mac_int(SFU_MAC), "dst_mac": mac_int(mac(r)), "src_addr": ip_int(SFU_IP),
                           "dst_addr": ip_int(ip(r)), "src_port": SFU_PORT, "dst_port": 6000 + r}, 0))
    for template, tid in ((0, 0), (1, 1), (2, 2), (3, 2)):
        s.entries.append(("av1_template_layer", {"stream_id": 2, "template_id": template},
                          "set_temporal_layer", {"tid": tid}, 0))
    for rid, max_tid in (layers or {}).items():
        s.entries.append(("receiver_layer", {"egress_rid": rid}, "set_max_layer", {"max_tid": max_tid}, 0))
    routes = [((200, None), "rtcp_replicate"), ((201, None), "rtcp_to_controller"),
              ((205, 1), "rtcp_to_controller"), ((205, 15), "rtcp_to_controller"),
              ((206, 1), "rtcp_to_sender"), ((206, 4), "rtcp_to_sender"), ((206, 15), "rtcp_to_controller")]
    for (pt, fmt), action in routes:
        match = {"packet_type": pt} if fmt is None else {"packet_type": pt, "fmt": (fmt, 0x1F)}
        s.entries.append(("rtcp_route", match, action, {}, 10 if fmt is None else 20))
    s.entries += [("feedback_target", {"media_ssrc": SSRC_A}, "to_sender", {"port": 1, "rid": 1}, 0),
                  ("feedback_target", {"media_ssrc": SSRC_B}, "to_sender", {"port": 2, "rid": 2}, 0)]
    return s


@dataclass
class Vector:
    """Send `steps` in order on a switch holding `state`; step i must produce exactly `expect[i]`."""

    name: str
    state: State
    steps: list[tuple[int, bytes]]
    expect: list[list[tuple[int, bytes]]]


def _seq_vector() -> Vector:
    # L1T3 pattern; 105 is lost before the SFU and arrives late; 102 and 101 are retransmitted.
    order = [(100, 0), (101, 2), (102, 1), (103, 2), (104, 0), (106, 1), (102, 1), (101, 2), (105, 2)]
    sent = {  # receiver -> original seq -> seq it gets (absent: dropped)
        2: {s: s for s, _ in order},
        3: {100: 100, 104: 101, 105: 102},
        4: {100: 100, 102: 101, 104: 102, 106: 104, 105: 103},
    }
    dropped_retx = {3: {102, 101}, 4: {101}}
    steps, expect = [], []
    seen: set[tuple[int, int]] = set()
    for seq, tid in order:
        steps.append((1, from_participant(1, vp8(seq, tid))))
        outs = []
        retx = (seq, tid) in seen
        seen.add((seq, tid))
        for r in (2, 3, 4):
            if seq in sent[r] and not (retx and seq in dropped_retx.get(r, ())):
                p = vp8(seq, tid)
                p.sequence = sent[r][seq]
                outs.append((r, to_participant(r, p)))
        expect.append(outs)
    return Vector("gap-free sequence per receiver across dropped layers, retransmissions and a late packet",
                  meeting_state({3: 0, 4: 1}), steps, expect)


def _layer_vector() -> Vector:
    # AV1 stream from participant 2, templates 0..3 -> layers 0, 1, 2, 2; receiver 3 max 0, receiver 4 max 1.
    templates = [0, 3, 1, 2, 0]
    steps, expect = [], []
    out_seq = {1: 200, 3: 200, 4: 200}
    for i, t in enumerate(templates):
        seq = 200 + i
        steps.append((2, from_participant(2, av1(seq, t))))
        tid = {0: 0, 1: 1, 2: 2, 3: 2}[t]
        outs = []
        for r, max_tid in ((1, 7), (3, 0), (4, 1)):
            if tid <= max_tid:
                p = av1(seq, t)
                p.sequence = out_seq[r]
                out_seq[r] += 1
                outs.append((r, to_participant(r, p)))
        expect.append(outs)
    return Vector("per-receiver temporal-layer suppression (AV1 dependency-descriptor templates)",
                  meeting_state({3: 0, 4: 1}), steps, expect)


def _rtcp_vector() -> Vector:
    s = meeting_state()
    steps = [
        (1, from_participant(1, sender_report(SSRC_A))),
        (3, from_participant(3, rtcp_fb(206, 1, 0xC3, SSRC_A))),                 # PLI -> sender A
        (4, from_participant(4, rtcp_fb(206, 4, 0xD4, SSRC_B, b"\0" * 8))),      # FIR -> sender B
        (3, from_participant(3, rtcp_fb(206, 15, 0xC3, 0, REMB))),               # REMB -> controller
        (4, from_participant(4, rtcp_fb(205, 15, 0xD4, SSRC_A, TWCC))),          # TWCC -> controller
        (2, from_participant(2, rtcp_fb(205, 1, 0xB2, SSRC_A, NACK))),           # NACK -> controller
        (2, from_participant(2, receiver_report(SSRC_B))),                       # RR -> controller
        (3, from_participant(3, rtcp_fb(206, 1, 0xC3, 0xDEAD))),                 # PLI, unknown media
    ]
    exp = [
        [(r, to_participant(r, sender_report(SSRC_A))) for r in (2, 3, 4)],
        [(1, to_participant(1, rtcp_fb(206, 1, 0xC3, SSRC_A)))],
        [(2, to_participant(2, rtcp_fb(206, 4, 0xD4, SSRC_B, b"\0" * 8)))],
    ]
    for port, frame in steps[3:7]:
        exp.append([(CPU, to_cpu(port, REASON_RTCP, frame))])
    exp.append([(CPU, to_cpu(3, REASON_NO_FEEDBACK, steps[7][1]))])
    return Vector("RTCP routed by packet type and FMT (sender, replicated, controller)", s, steps, exp)


def _other_vectors() -> list[Vector]:
    s = meeting_state()
    stun = from_participant(2, STUN(stun_message_type=1, transaction_id=0x1234))
    arp = raw(Ether(src=mac(3), dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=ip(3), pdst=SFU_IP))
    frame = to_participant(3, vp8(7, 0))
    return [
        Vector("STUN binding request to the controller", s, [(2, stun)], [[(CPU, to_cpu(2, REASON_STUN, stun))]]),
        Vector("replication to every receiver of the meeting, never back to the sender", s,
               [(1, from_participant(1, vp8(50, 0)))], [[(r, to_participant(r, vp8(50, 0))) for r in (2, 3, 4)]]),
        Vector("unknown SSRC dropped; ARP to the controller", s,
               [(1, from_participant(1, vp8(1, 0, ssrc=0x999))), (3, arp)], [[], [(CPU, to_cpu(3, REASON_OTHER, arp))]]),
        Vector("packet-out leaves on the port it names, unchanged", s, [(CPU, packet_out(3, frame))], [[(3, frame)]]),
    ]


VECTORS = [*_other_vectors(), _layer_vector(), _seq_vector(), _rtcp_vector()]


def install(client, state: State) -> None:
    """Write a vector's table state through P4Runtime (names resolved by the client's P4Info)."""
    client.insert(*[client.table_entry(t, m, a, p, prio) for t, m, a, p, prio in state.entries])
    if state.groups:
        client.insert(*[client.multicast_group(g, reps) for g, reps in state.groups.items()])

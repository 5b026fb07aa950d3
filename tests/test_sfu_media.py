"""SFU media: libvpx clip with three temporal layers, RTP/VP8 descriptor roundtrip (scapy, aiortc, the P4
program's parser and the software SFU's), frame reassembly and decoding of layer subsets."""
from __future__ import annotations

import av
from aiortc.rtp import RtpPacket
from scapy.layers.rtp import RTP

from netkit.apps.sfu.media import TID_PATTERN, FrameAssembler, encode_clip, packetize
from netkit.apps.sfu.software import _vp8_tid
from netkit.apps.sfu.wire import ETHERNET_IPV4, udp_ipv4
from netkit.p4.software.sfu import parse


def test_clip_layers_and_layer_subsets_decode():
    clip = encode_clip()
    assert clip[0].keyframe and not any(f.keyframe for f in clip[1:])
    assert [f.tid for f in clip[:8]] == list(TID_PATTERN) * 2
    for max_tid, expect in ((2, len(clip)), (1, len(clip) // 2), (0, len(clip) // 4)):
        dec = av.CodecContext.create("libvpx", "r")
        frames = sum(len(dec.decode(av.Packet(f.data))) for f in clip if f.tid <= max_tid)
        assert frames == expect


def test_descriptor_roundtrip_scapy_aiortc_and_p4_parser():
    clip = encode_clip()
    frame = clip[5]                       # a layer-2 frame
    pkts = packetize(frame, ssrc=0xABC, seq=65535, timestamp=9000, picture_id=300, tl0picidx=7)
    assert len(pkts) >= 2 and [p.marker for p in pkts][-1] == 1 and pkts[0].sequence_number == 65535
    for k, p in enumerate(pkts):
        wire = p.serialize()
        s = RTP(wire)
        assert (s.payload_type, s.sequence, s.sourcesync, s.marker) == (96, (65535 + k) & 0xFFFF, 0xABC, p.marker)
        parsed = parse(ETHERNET_IPV4 + udp_ipv4("10.0.0.1", "10.0.0.254", 6000, 5004, wire))
        assert parsed.tid == frame.tid           # the data plane reads the same TID
        assert _vp8_tid(wire) == frame.tid
    asm = FrameAssembler()
    got = [asm.add(RtpPacket.parse(p.serialize())) for p in reversed(pkts)]   # any arrival order
    assert got[:-1] == [None] * (len(pkts) - 1)
    ts, tid, data = got[-1]
    assert (ts, tid, data) == (9000, frame.tid, frame.data)
    asm2 = FrameAssembler()
    assert all(asm2.add(RtpPacket.parse(p.serialize())) is None for p in pkts[1:])   # first packet missing

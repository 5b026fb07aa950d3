"""`make demo` part: the SFU data plane on the software target, programmed over P4Runtime."""
from __future__ import annotations

import struct
import time
from pathlib import Path

from netkit.experiment.output import write_json


def _rtp(seq: int, tid: int, ssrc: int = 0xA1) -> bytes:
    """Participant 1's VP8 packet (Ethernet/IPv4/UDP/RTP/VP8 descriptor with TID) to the SFU."""
    from scapy.all import IP, UDP, Ether, raw
    from scapy.layers.rtp import RTP

    desc = bytes([0x90, 0x20, tid << 6])
    return raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe") / IP(src="10.0.0.1", dst="10.0.0.254") /
               UDP(sport=6001, dport=5004) / RTP(payload_type=96, sequence=seq, sourcesync=ssrc) / (desc + bytes(900)))


def demo_part(out: Path) -> list[str]:
    """A 4-party meeting: participant 1's L1T3 stream to receivers with max layers 2, 1 and 0."""
    from netkit.p4.client import P4RuntimeClient
    from netkit.p4.software.target import SoftwareTarget
    from netkit.p4.target import get_target

    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in ("software", "bmv2", "tofino"):
        a = get_target(name).available()
        lines.append(f"target {name}: {'usable' if a.usable else 'missing'} ({a.reason.split(';')[0]})")
    target = SoftwareTarget()
    target.start("127.0.0.1:0", [])
    received: dict[int, list[int]] = {2: [], 3: [], 4: []}
    for port in received:
        target.switch.ports[port] = lambda data, port=port: received[port].append(struct.unpack_from("!H", data, 44)[0])
    try:
        compiled = target.compile("sfu", out / "build")
        with P4RuntimeClient(target.address) as c:
            c.set_pipeline(compiled.p4info, compiled.device_config)
            c.insert(c.table_entry("stream", {"ssrc": 0xA1}, "set_stream",
                                   {"stream_id": 1, "mcast_grp": 1, "sender_rid": 1}))
            c.insert(c.multicast_group(1, [(p, p) for p in (1, 2, 3, 4)]))
            c.insert(*[c.table_entry("stream_receiver", {"stream_id": 1, "egress_rid": r}, "set_slot", {"slot": r})
                       for r in received])
            c.insert(*[c.table_entry("receiver_layer", {"egress_rid": r}, "set_max_layer", {"max_tid": m})
                       for r, m in ((3, 1), (4, 0))])
            tids = [0, 2, 1, 2] * 250
            frames = [_rtp(1000 + seq, tid) for seq, tid in enumerate(tids)]
            t0 = time.perf_counter()
            for frame in frames:
                target.switch.receive(1, frame)
            wall = time.perf_counter() - t0
            drops = {r: c.read_counter("layer_drops", r)[0] for r in received}
    finally:
        target.stop()
    summary = {"packets_in": len(tids), "wall_s": wall, "receivers": {}}
    for r, seqs in received.items():
        gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if (b - a) & 0xFFFF != 1)
        summary["receivers"][r] = {"packets": len(seqs), "layer_drops": drops[r], "seq_gaps": gaps,
                                   "first_last_seq": [seqs[0], seqs[-1]] if seqs else []}
        lines.append(f"receiver {r}: {len(seqs)} of {len(tids)} packets (dropped {drops[r]} above its layer), "
                     f"rewritten sequence {seqs[0]}..{seqs[-1]} with {gaps} gaps")
    lines.append(f"{len(tids)} packets in, {sum(len(s) for s in received.values())} out in {wall:.2f} s "
                 f"({sum(len(s) for s in received.values()) / wall:.0f} packets/s out, sans-I/O, one thread)")
    write_json(out / "summary.json", summary)
    return lines

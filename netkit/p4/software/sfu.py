"""The SFU program (p4/sfu/sfu_v1model.p4) as a sans-I/O Python pipeline: bytes and a port in, (port, bytes) out.

It implements the program's parser, ingress and egress semantics over a `SwitchState` whose tables,
counters and registers are those of the committed P4Info, looked up by name. `PROGRAM` declares every
object the pipeline uses with its shape; tests/test_p4_p4info.py checks it against the P4Info, and the
software target refuses a P4Info that does not carry exactly these objects.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from netkit.p4.software.state import SwitchState

CPU_PORT = 255
DROP_PORT = 511
ETHERTYPE_IPV4 = 0x0800
STUN_MAGIC = 0x2112A442
VP8_PAYLOAD_TYPE = 96
AV1_DD_EXT_ID = 12
RTX_PAYLOAD_TYPE = 97
RTCP_RTPFB, RTCP_PSFB = 205, 206
REASON_STUN, REASON_RTCP, REASON_UNKNOWN_STREAM, REASON_OTHER, REASON_NO_FEEDBACK = 1, 2, 3, 4, 5
HIST_KEPT, HIST_DROPPED = 1, 2
SEQ_GAP_RECORDED = 3
SEQ_HISTORY_BITS = 6
VARBIT_EXT_MAX_BYTES = 8160 // 8

I, E = "SfuIngress", "SfuEgress"
# name -> (match fields [(name, bitwidth, kind)], actions [(name, default_only)], size, default action)
TABLES = {
    f"{I}.stream": ([("ssrc", 32, "exact")],
                    [(f"{I}.set_stream", False), (f"{I}.stream_to_cpu", False), (f"{I}.drop", False)],
                    1024, f"{I}.drop"),
    f"{I}.av1_template_layer": ([("stream_id", 16, "exact"), ("template_id", 8, "exact")],
                                [(f"{I}.set_temporal_layer", False), ("NoAction", True)], 4096, "NoAction"),
    f"{I}.rtcp_route": ([("packet_type", 8, "exact"), ("fmt", 5, "ternary")],
                        [(f"{I}.rtcp_to_controller", False), (f"{I}.rtcp_to_sender", False),
                         (f"{I}.rtcp_replicate", False), (f"{I}.rtcp_drop", False)], 64, f"{I}.rtcp_to_controller"),
    f"{I}.feedback_target": ([("media_ssrc", 32, "exact")],
                             [(f"{I}.to_sender", False), (f"{I}.feedback_to_controller", False)],
                             1024, f"{I}.feedback_to_controller"),
    f"{E}.stream_receiver": ([("stream_id", 16, "exact"), ("egress_rid", 16, "exact")],
                             [(f"{E}.set_slot", False), (f"{E}.set_rtx_slot", False), (f"{E}.drop", False)],
                             16384, f"{E}.drop"),
    f"{E}.receiver_layer": ([("egress_rid", 16, "exact")],
                            [(f"{E}.set_max_layer", False), ("NoAction", True)], 1024, "NoAction"),
    f"{E}.receiver_rewrite": ([("rid", 16, "exact")], [(f"{E}.rewrite", False), ("NoAction", True)], 1024, "NoAction"),
}
ACTIONS = {
    "NoAction": [], f"{I}.drop": [], f"{E}.drop": [],
    f"{I}.set_stream": [("stream_id", 16), ("mcast_grp", 16), ("sender_rid", 16)],
    f"{I}.stream_to_cpu": [],
    f"{I}.set_temporal_layer": [("tid", 8)],
    f"{I}.rtcp_to_controller": [], f"{I}.rtcp_to_sender": [], f"{I}.rtcp_replicate": [], f"{I}.rtcp_drop": [],
    f"{I}.to_sender": [("port", 9), ("rid", 16)],
    f"{I}.feedback_to_controller": [],
    f"{E}.set_slot": [("slot", 16)],
    f"{E}.set_rtx_slot": [("slot", 16), ("media_slot", 16)],
    f"{E}.set_max_layer": [("max_tid", 8)],
    f"{E}.rewrite": [("src_mac", 48), ("dst_mac", 48), ("src_addr", 32), ("dst_addr", 32),
                     ("src_port", 16), ("dst_port", 16)],
}
# name -> (size, unit: "packets" | "bytes" | "both")
COUNTERS = {f"{I}.port_rx": (512, "both"), f"{I}.stream_rx": (1024, "both"), f"{I}.cpu_tx": (16, "both"),
            f"{E}.receiver_tx": (1024, "both"), f"{E}.layer_drops": (4096, "packets")}
# name -> (size, bitwidth)
REGISTERS = {f"{E}.seq_state": (4096, 48), f"{E}.seq_history": (4096 << SEQ_HISTORY_BITS, 48)}
CONTROLLER_HEADERS = {"packet_in": [("ingress_port", 16), ("reason", 8)], "packet_out": [("egress_port", 16)]}
MULTICAST_GROUP_BITS = 16   # standard_metadata.mcast_grp
PORT_BITS = 9               # standard_metadata.egress_spec

_U16 = struct.Struct("!H")
_IP_WORDS = struct.Struct("!10H")
_STREAM_ACTIONS = ("set_stream", "stream_to_cpu", "drop")


@dataclass(slots=True)
class Parsed:
    """Header offsets and fields the pipeline needs (None: header not valid)."""

    ip: int | None = None        # offset of the IPv4 header
    udp: int | None = None
    stun: bool = False
    rtcp: int | None = None      # offset of the RTCP header
    rtcp_pt: int = 0
    rtcp_fmt: int = 0
    rtcp_sender: int = 0
    rtcp_media: int | None = None
    rtp: int | None = None       # offset of the RTP header
    ssrc: int = 0
    seq: int = 0
    tid: int | None = None       # VP8 TID when the T/K byte is present
    rtx: int | None = None       # offset of an RTX payload's OSN (payload type RTX_PAYLOAD_TYPE)
    dd_template: int | None = None
    ip_base: int | None = None   # checksum partial sum, shared by all copies of the packet


def parse(data: bytes) -> Parsed:
    """The program's parser for front-panel ports (SfuParser from parse_ethernet on)."""
    p = Parsed()
    n = len(data)
    if n < 14 or data[12:14] != b"\x08\x00" or n < 34:
        return p
    p.ip = 14
    if data[14] & 0x0F != 5 or (data[20] & 0x1F) or data[21] or data[23] != 17 or n < 42:
        return p
    p.udp = 34
    o = 42
    if n - o < 8:
        return p          # lookahead<bit<64>> fails: no UDP payload header
    b0, b1 = data[o], data[o + 1]
    if b0 & 0xC0 == 0 and data[o + 4:o + 8] == b"\x21\x12\xa4\x42":
        p.stun = n - o >= 20
        return p
    if b0 & 0xC0 != 0x80:
        return p
    if b1 & 0xE0 == 0xC0:  # RTCP, RFC 5761: second byte 192..223
        p.rtcp = o
        p.rtcp_fmt = b0 & 0x1F
        p.rtcp_pt = b1
        p.rtcp_sender = int.from_bytes(data[o + 4:o + 8], "big")
        if b1 in (RTCP_RTPFB, RTCP_PSFB) and n - o >= 12:
            p.rtcp_media = int.from_bytes(data[o + 8:o + 12], "big")
        return p
    if n - o < 12:
        return p
    p.rtp = o
    p.seq = (data[o + 2] << 8) | data[o + 3]
    p.ssrc = int.from_bytes(data[o + 8:o + 12], "big")
    q = o + 12 + 4 * (b0 & 0x0F)
    if q > n:
        return p
    if b0 & 0x10:
        if n - q < 4:
            return p
        profile, words = (data[q] << 8) | data[q + 1], (data[q + 2] << 8) | data[q + 3]
        q += 4
        if n - q < 4:
            return p              # the lookahead at the first element fails
        if words:
            if profile == 0xBEDE and data[q] >> 4 == AV1_DD_EXT_ID:
                p.dd_template = data[q + 1] & 0x3F
            elif profile & 0xFFF0 == 0x1000 and data[q] == AV1_DD_EXT_ID:
                p.dd_template = data[q + 2] & 0x3F
            if 4 * words > VARBIT_EXT_MAX_BYTES or q + 4 * words > n:
                return p          # the varbit extract fails; the descriptor was already recorded
            q += 4 * words
    if b1 & 0x7F == RTX_PAYLOAD_TYPE:
        if n - q >= 2:
            p.rtx = q
        return p
    if b1 & 0x7F != VP8_PAYLOAD_TYPE or q >= n:
        return p
    d = data[q]
    q += 1
    if not d & 0x80:
        return p
    if q >= n:
        return p
    x = data[q]
    q += 1
    if x & 0x80:              # I: picture id
        if q >= n:
            return p
        q += 2 if data[q] & 0x80 else 1
    if x & 0x40:              # L: TL0PICIDX
        q += 1
    if x & 0x30:              # T or K: TID/Y/KEYIDX
        if q < n:
            p.tid = data[q] >> 6
    return p


def ipv4_checksum(buf: bytearray, ip: int) -> None:
    """Recompute the IPv4 header checksum in place (the program's SfuComputeChecksum)."""
    w = _IP_WORDS.unpack_from(buf, ip)
    s = sum(w) - w[5]
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    _U16.pack_into(buf, ip + 10, ~s & 0xFFFF)


def _checksum_with(base: int, addr_sum: int) -> int:
    s = base + addr_sum
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _pack_rewrite(params: tuple[int, ...]) -> tuple[bytes, bytes, bytes, int]:
    """The rewrite action's parameters as header bytes: (dst+src MAC, src+dst IPv4, src+dst port, address sum)."""
    smac, dmac, sip, dip, sport, dport = params
    addr_sum = (sip >> 16) + (sip & 0xFFFF) + (dip >> 16) + (dip & 0xFFFF)
    return (dmac.to_bytes(6, "big") + smac.to_bytes(6, "big"), sip.to_bytes(4, "big") + dip.to_bytes(4, "big"),
            _U16.pack(sport) + _U16.pack(dport), addr_sum)


class SfuPipeline:
    """Parser, ingress and egress of the SFU program over a SwitchState (sans-I/O)."""

    def __init__(self, state: SwitchState):
        self.state = state
        t = lambda name: state.by_name("table", name)  # noqa: E731
        self.t_stream, self.t_av1 = t(f"{I}.stream"), t(f"{I}.av1_template_layer")
        self.t_rtcp, self.t_fb = t(f"{I}.rtcp_route"), t(f"{I}.feedback_target")
        self.t_recv, self.t_layer = t(f"{E}.stream_receiver"), t(f"{E}.receiver_layer")
        self.t_rewrite = t(f"{E}.receiver_rewrite")
        for name, (_, _, _, default) in TABLES.items():
            table = t(name)
            aid = state.action_id(default)
            table.default_action = table.initial_default = (aid, tuple(0 for _ in ACTIONS[default]))
        a = state.action_id
        self.a_set_stream, self.a_stream_to_cpu = a(f"{I}.set_stream"), a(f"{I}.stream_to_cpu")
        self.a_set_tid = a(f"{I}.set_temporal_layer")
        self.a_rtcp_cpu, self.a_rtcp_sender = a(f"{I}.rtcp_to_controller"), a(f"{I}.rtcp_to_sender")
        self.a_rtcp_repl, self.a_rtcp_drop = a(f"{I}.rtcp_replicate"), a(f"{I}.rtcp_drop")
        self.a_to_sender = a(f"{I}.to_sender")
        self.a_set_slot, self.a_set_max = a(f"{E}.set_slot"), a(f"{E}.set_max_layer")
        self.a_set_rtx = a(f"{E}.set_rtx_slot")
        self.a_rewrite = a(f"{E}.rewrite")
        c = lambda name: state.by_name("counter", name)  # noqa: E731
        self.c_port_rx, self.c_stream_rx, self.c_cpu = c(f"{I}.port_rx"), c(f"{I}.stream_rx"), c(f"{I}.cpu_tx")
        self.c_recv_tx, self.c_layer_drops = c(f"{E}.receiver_tx"), c(f"{E}.layer_drops")
        self._plans: dict[tuple[int, int], object] = {}
        self._plans_version = -1
        self.r_state = state.by_name("register", f"{E}.seq_state").cells
        self.r_hist = state.by_name("register", f"{E}.seq_history").cells

    # ---------------------------------------------------------------- ingress
    def process(self, port: int, data: bytes) -> list[tuple[int, bytes]]:
        """Run one packet that arrived on `port`; return the packets that leave, as (egress port, bytes)."""
        if port == CPU_PORT:
            if len(data) < 2:
                return self._to_cpu_packet(port, bytes(data), REASON_OTHER, Parsed())
            out = _U16.unpack_from(data, 0)[0] & 0x1FF
            return [] if out == DROP_PORT else [(out, bytes(data[2:]))]
        n = len(data)
        self.c_port_rx.count(port, n)
        p = parse(data)
        if p.stun:
            return self._to_cpu_packet(port, data, REASON_STUN, p)
        stream_ssrc = None
        if p.rtcp is not None:
            e = self.t_rtcp.lookup((p.rtcp_pt, p.rtcp_fmt))
            aid = e.action_id if e else self.t_rtcp.default_action[0]
            if aid == self.a_rtcp_repl:
                stream_ssrc = p.rtcp_sender
            if aid == self.a_rtcp_cpu:
                return self._to_cpu_packet(port, data, REASON_RTCP, p)
            if aid == self.a_rtcp_drop:
                return []
            if aid == self.a_rtcp_sender:
                if p.rtcp_media is None:
                    return self._to_cpu_packet(port, data, REASON_NO_FEEDBACK, p)
                f = self.t_fb.exact_index.get((p.rtcp_media,))
                faid, fparams = (f.action_id, f.params) if f else self.t_fb.default_action
                if faid != self.a_to_sender:
                    return self._to_cpu_packet(port, data, REASON_NO_FEEDBACK, p)
                out_port, rid = fparams
                if out_port == DROP_PORT:
                    return []
                return self._egress(p, data, port, out_port, 0, 0, 0, 0, rid)
            if aid != self.a_rtcp_repl:
                return self._to_cpu_packet(port, data, REASON_RTCP, p)
        elif p.rtp is not None:
            stream_ssrc = p.ssrc
        else:
            return self._to_cpu_packet(port, data, REASON_OTHER, p)
        s = self.t_stream.exact_index.get((stream_ssrc,))
        aid, params = (s.action_id, s.params) if s else self.t_stream.default_action
        if aid == self.a_stream_to_cpu:
            return self._to_cpu_packet(port, data, REASON_UNKNOWN_STREAM, p)
        if aid != self.a_set_stream:
            return []
        stream_id, group, sender_rid = params
        self.c_stream_rx.count(stream_id, n)
        tid = 0
        if p.rtp is not None:
            if p.tid is not None:
                tid = p.tid
            elif p.dd_template is not None:
                t = self.t_av1.exact_index.get((stream_id, p.dd_template))
                taid, tparams = (t.action_id, t.params) if t else self.t_av1.default_action
                if taid == self.a_set_tid:
                    tid = tparams[0]
        replicas = self.state.multicast_groups.get(group) if group else None
        if not replicas:
            return []
        out = []
        if p.rtp is not None and p.udp is not None:
            return self._replicate_rtp(p, data, port, replicas, stream_id, sender_rid, tid)
        egress = self._egress
        for eport, rid in replicas:
            if rid and rid == sender_rid:
                continue      # SfuEgress drops the sender's own copy first
            out += egress(p, data, port, eport, rid, stream_id, sender_rid, tid, 0)
        return out

    def _replicate_rtp(self, p: Parsed, data: bytes, in_port: int, replicas: list[tuple[int, int]],
                       stream_id: int, sender_rid: int, tid: int) -> list[tuple[int, bytes]]:
        """The media fast path: SfuEgress for every replica of an RTP packet, with per-(stream, receiver)
        table results cached until the next table write (the same decisions as _egress, fewer lookups)."""
        if self._plans_version != self.state.version:
            self._plans.clear()
            self._plans_version = self.state.version
        plans = self._plans
        out = []
        n = len(data)
        seq = p.seq
        head, mid, tail = None, data[12:24], data[46:]
        udp_len, rtp01 = data[38:40], data[42:44]
        for eport, rid in replicas:
            if rid == sender_rid and rid:
                continue
            if eport == CPU_PORT or not rid:
                out += self._egress(p, data, in_port, eport, rid, stream_id, sender_rid, tid, 0)
                continue
            plan = plans.get((stream_id, rid), False)
            if plan is False:
                plan = plans[(stream_id, rid)] = self._plan(stream_id, rid, data)
            if plan is None:
                continue
            if plan == "rtx":       # an RTX stream: its OSN is rewritten too (rare: the one-copy path)
                out += self._egress(p, data, in_port, eport, rid, stream_id, sender_rid, tid, 0)
                continue
            slot, max_tid, macs, ips, ports, addr_sum = plan
            if macs is None:   # no rewrite entry: the copy keeps the packet's own addresses
                a = _IP_WORDS.unpack_from(data, 14)
                macs, ips, ports, addr_sum = data[0:12], data[26:34], data[34:38], a[6] + a[7] + a[8] + a[9]
            sent = self._rewrite_seq(slot, seq, tid <= max_tid)
            if sent is None:
                self.c_layer_drops.count(slot, n)
                continue
            if head is None:
                head = self._ip_base(p, data)
            out.append((eport, b"".join((macs, mid, _U16.pack(_checksum_with(head, addr_sum)), ips, ports,
                                         udp_len, b"\0\0", rtp01, _U16.pack(sent), tail))))
            self.c_recv_tx.count(rid, n)
        return out

    def _plan(self, stream_id: int, rid: int, data: bytes):
        """What SfuEgress's tables say for (stream, receiver): slot, max layer and rewrite bytes; None: drop."""
        e = self.t_recv.exact_index.get((stream_id, rid))
        eaid, eparams = (e.action_id, e.params) if e else self.t_recv.default_action
        if eaid == self.a_set_rtx:
            return "rtx"
        if eaid != self.a_set_slot or eparams[0] >= len(self.r_state):
            return None
        m = self.t_layer.exact_index.get((rid,))
        maid, mparams = (m.action_id, m.params) if m else self.t_layer.default_action
        max_tid = mparams[0] if maid == self.a_set_max else 255
        w = self.t_rewrite.exact_index.get((rid,))
        waid, wparams = (w.action_id, w.params) if w else self.t_rewrite.default_action
        if waid == self.a_rewrite:
            macs, ips, ports, addr_sum = _pack_rewrite(wparams)
        else:
            return (eparams[0], max_tid, None, None, None, None)
        return (eparams[0], max_tid, macs, ips, ports, addr_sum)

    def _to_cpu_packet(self, port: int, data: bytes, reason: int, p: Parsed) -> list[tuple[int, bytes]]:
        self.c_cpu.count(reason, len(data))
        buf = bytearray(data)
        if p.ip is not None:
            ipv4_checksum(buf, p.ip)
        return [(CPU_PORT, _U16.pack(port) + bytes((reason,)) + bytes(buf))]

    # ----------------------------------------------------------------- egress
    def _egress(self, p: Parsed, data: bytes, in_port: int, eport: int, rid: int, stream_id: int,
                sender_rid: int, tid: int, dst_rid: int) -> list[tuple[int, bytes]]:
        """SfuEgress for one copy, then the deparser (IPv4 checksum recomputed, UDP checksum zeroed)."""
        if eport == CPU_PORT:
            return self._to_cpu_packet(in_port, data, 0, p)
        seq_bytes = None
        if rid:
            if rid == sender_rid:
                return []
            dst_rid = rid
            e = self.t_recv.exact_index.get((stream_id, rid))
            eaid, eparams = (e.action_id, e.params) if e else self.t_recv.default_action
            if eaid == self.a_set_rtx:
                slot, media_slot = eparams
            elif eaid == self.a_set_slot:
                slot, media_slot = eparams[0], None
            else:
                return []
            if p.rtp is not None:
                if slot >= len(self.r_state):
                    return []     # a slot beyond the registers: the controller's error, the packet is dropped
                m = self.t_layer.exact_index.get((rid,))
                maid, mparams = (m.action_id, m.params) if m else self.t_layer.default_action
                max_tid = mparams[0] if maid == self.a_set_max else 255
                keep = tid <= max_tid
                if media_slot is not None:
                    osn = self._rtx_osn(media_slot, p, data)
                    if osn is None:
                        keep = False       # an original this receiver never got: dropped, gap-free
                    else:
                        data = data[:p.rtx] + _U16.pack(osn) + data[p.rtx + 2:]
                sent = self._rewrite_seq(slot, p.seq, keep)
                if sent is None:
                    self.c_layer_drops.count(slot, len(data))
                    return []
                seq_bytes = _U16.pack(sent)
        w = self.t_rewrite.exact_index.get((dst_rid,))
        if w is not None:
            waid = w.action_id
            rw = w.cache
            if rw is None and waid == self.a_rewrite:
                rw = w.cache = _pack_rewrite(w.params)
        else:
            waid, wparams = self.t_rewrite.default_action
            rw = _pack_rewrite(wparams) if waid == self.a_rewrite else None
        if waid != self.a_rewrite:
            rw = None
        if p.udp is not None:
            # the common case, assembled in one join: Ethernet, IPv4 (new checksum), UDP (checksum 0), RTP
            macs, ips, ports, addr_sum = rw if rw is not None else (data[0:12], data[26:34], data[34:38], None)
            if addr_sum is None:
                a = _IP_WORDS.unpack_from(data, 14)
                addr_sum = a[6] + a[7] + a[8] + a[9]
            csum = _U16.pack(_checksum_with(self._ip_base(p, data), addr_sum))
            if seq_bytes is None:
                out = b"".join((macs, data[12:24], csum, ips, ports, data[38:40], b"\0\0", data[42:]))
            else:
                out = b"".join((macs, data[12:24], csum, ips, ports, data[38:40], b"\0\0",
                                data[42:44], seq_bytes, data[46:]))
        else:
            buf = bytearray(data)
            if rw is not None:
                buf[0:12] = rw[0]
                if p.ip is not None:
                    buf[26:34] = rw[1]
            if p.ip is not None:
                ipv4_checksum(buf, p.ip)
            out = bytes(buf)
        self.c_recv_tx.count(dst_rid, len(data))
        return [(eport, out)]

    def _rtx_osn(self, media_slot: int, p: Parsed, data: bytes) -> int | None:
        """The number the receiver got the original of an RTX packet as (`seq_history` of the media slot)."""
        if p.rtx is None or media_slot >= len(self.r_state):
            return None
        osn = _U16.unpack_from(data, p.rtx)[0]
        h = self.r_hist[(media_slot << SEQ_HISTORY_BITS) | (osn & 63)]
        if h >> 32 == HIST_KEPT and (h >> 16) & 0xFFFF == osn:
            return h & 0xFFFF
        return None

    def _ip_base(self, p: Parsed, data: bytes) -> int:
        """Sum of the IPv4 header's 16-bit words other than the checksum and the addresses (once per packet)."""
        if p.ip_base is None:
            a = _IP_WORDS.unpack_from(data, 14)
            p.ip_base = a[0] + a[1] + a[2] + a[3] + a[4]
        return p.ip_base

    def _rewrite_seq(self, slot: int, seq: int, keep: bool) -> int | None:
        """The sequence number a receiver gets for original `seq`, or None to drop (SfuEgress's registers)."""
        st = self.r_state[slot]
        if st >> 32 == 0:
            highest, offset = (seq - 1) & 0xFFFF, 0
        else:
            highest, offset = (st >> 16) & 0xFFFF, st & 0xFFFF
        base = slot << SEQ_HISTORY_BITS
        hist = self.r_hist
        ahead = (seq - highest) & 0xFFFF
        if ahead != 0 and ahead < 0x8000:
            for k in range(1, min(ahead, SEQ_GAP_RECORDED + 1)):
                s = (seq - k) & 0xFFFF
                hist[base | (s & 63)] = (HIST_KEPT << 32) | (s << 16) | ((s - offset) & 0xFFFF)
            if keep:
                sent = (seq - offset) & 0xFFFF
                hist[base | (seq & 63)] = (HIST_KEPT << 32) | (seq << 16) | sent
            else:
                offset = (offset + 1) & 0xFFFF
                hist[base | (seq & 63)] = (HIST_DROPPED << 32) | (seq << 16)
                sent = None
            self.r_state[slot] = (1 << 32) | (seq << 16) | offset
            return sent
        h = hist[base | (seq & 63)]
        if (h >> 16) & 0xFFFF == seq and h >> 32 == HIST_KEPT:
            return h & 0xFFFF
        if (h >> 16) & 0xFFFF == seq and h >> 32 == HIST_DROPPED:
            return None
        return (seq - offset) & 0xFFFF if keep else None


def p4info_differences(info) -> list[str]:
    """How a P4Info differs from the objects this pipeline implements ([] when it is the SFU program's)."""
    from p4.config.v1 import p4info_pb2

    kinds = {p4info_pb2.MatchField.EXACT: "exact", p4info_pb2.MatchField.TERNARY: "ternary",
             p4info_pb2.MatchField.LPM: "lpm", p4info_pb2.MatchField.RANGE: "range",
             p4info_pb2.MatchField.OPTIONAL: "optional"}
    units = {p4info_pb2.CounterSpec.PACKETS: "packets", p4info_pb2.CounterSpec.BYTES: "bytes",
             p4info_pb2.CounterSpec.BOTH: "both"}
    problems: list[str] = []

    def compare(kind: str, have: dict, want: dict) -> None:
        for name in sorted(set(want) - set(have)):
            problems.append(f"{kind} {name} missing")
        for name in sorted(set(have) - set(want)):
            problems.append(f"{kind} {name} not implemented by the software target")
        for name in sorted(set(have) & set(want)):
            if have[name] != want[name]:
                problems.append(f"{kind} {name}: P4Info has {have[name]}, the software target implements {want[name]}")

    action_names = {a.preamble.id: a.preamble.name for a in info.actions}
    used = {action_names.get(r.id) for t in info.tables for r in t.action_refs}
    compare("action", {a.preamble.name: [(p.name, p.bitwidth) for p in a.params]
                       for a in info.actions if a.preamble.name in used},
            {k: v for k, v in ACTIONS.items()})
    compare("table", {t.preamble.name: ([(m.name, m.bitwidth, kinds.get(m.match_type, "?")) for m in t.match_fields],
                                        sorted((action_names.get(r.id, f"#{r.id}"),
                                                r.scope == p4info_pb2.ActionRef.DEFAULT_ONLY) for r in t.action_refs),
                                        t.size)
                      for t in info.tables},
            {k: (keys, sorted(acts), size) for k, (keys, acts, size, _) in TABLES.items()})
    compare("counter", {c.preamble.name: (c.size, units.get(c.spec.unit, "?")) for c in info.counters}, COUNTERS)
    compare("register", {r.preamble.name: (r.size, r.type_spec.bitstring.bit.bitwidth) for r in info.registers},
            REGISTERS)
    compare("controller header", {h.preamble.name: [(m.name, m.bitwidth) for m in h.metadata]
                                  for h in info.controller_packet_metadata}, CONTROLLER_HEADERS)
    return problems

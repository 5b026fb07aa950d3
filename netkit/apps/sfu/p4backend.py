"""The control core's backend for a P4 data plane: the meeting recipe of docs/p4.md as P4Runtime writes,
per-receiver layers as MODIFYs, NACK translation from `seq_history`, answers by packet-out."""
from __future__ import annotations

from netkit.apps.sfu.control import Meeting, Participant
from netkit.apps.sfu.dataplane import read_register_cells
from netkit.apps.sfu.wire import ETHERNET_IPV4, ip_int, udp_ipv4
from netkit.p4.client import P4RuntimeClient
from netkit.p4.software.sfu import HIST_KEPT, SEQ_HISTORY_BITS

E = "SfuEgress"
# Scallop's RTCP routing: SR to the meeting, PLI/FIR to the media's sender, the rest to the controller.
RTCP_ROUTES = [((200, None), "rtcp_replicate"), ((201, None), "rtcp_to_controller"),
               ((205, 1), "rtcp_to_controller"), ((205, 15), "rtcp_to_controller"),
               ((206, 1), "rtcp_to_sender"), ((206, 4), "rtcp_to_sender"), ((206, 15), "rtcp_to_controller")]


class P4Backend:
    """Programs one SFU switch over P4Runtime (`P4RuntimeClient` or `LocalP4Runtime`)."""

    def __init__(self, client: P4RuntimeClient, sfu_ip: str, sfu_port: int, sfu_mac: int = 0x0200000000FE):
        self.c = client
        self.sfu_ip, self.sfu_port, self.sfu_mac = sfu_ip, sfu_port, sfu_mac
        self.groups: set[int] = set()
        self.packets_out = 0
        c = client
        c.insert(*[c.table_entry("rtcp_route", {"packet_type": pt} if fmt is None else
                                 {"packet_type": pt, "fmt": (fmt, 0x1F)}, action, {}, 10 if fmt is None else 20)
                   for (pt, fmt), action in RTCP_ROUTES])
        # RTP of an SSRC no participant sends goes to the controller (counted and logged there), not dropped silently
        c.modify(c.table_entry("stream", None, "stream_to_cpu", {}, default=True))

    def meeting_changed(self, meeting: Meeting, joined: Participant | None, left: Participant | None) -> None:
        """Multicast group, stream, slots, rewrite and feedback entries for a join; their removal for a leave."""
        c = self.c
        group = c.multicast_group(meeting.group, [(p.switch_port, p.rid) for p in meeting.participants.values()])
        if meeting.group in self.groups:
            c.modify(group)
        else:
            c.insert(group)
            self.groups.add(meeting.group)
        if joined is not None:
            p = joined
            entries = [
                c.table_entry("stream", {"ssrc": p.ssrc}, "set_stream",
                              {"stream_id": p.stream_id, "mcast_grp": meeting.group, "sender_rid": p.rid}),
                c.table_entry("feedback_target", {"media_ssrc": p.ssrc}, "to_sender",
                              {"port": p.switch_port, "rid": p.rid}),
                c.table_entry("receiver_rewrite", {"rid": p.rid}, "rewrite",
                              {"src_mac": self.sfu_mac, "dst_mac": p.mac, "src_addr": ip_int(self.sfu_ip),
                               "dst_addr": ip_int(p.ip), "src_port": self.sfu_port, "dst_port": p.port}),
                c.table_entry("receiver_layer", {"egress_rid": p.rid}, "set_max_layer", {"max_tid": p.chooser.tid}),
            ]
            if p.rtx_ssrc is not None:      # the RTX stream: one more stream of the same sender
                entries.append(c.table_entry("stream", {"ssrc": p.rtx_ssrc}, "set_stream",
                                             {"stream_id": p.rtx_stream_id, "mcast_grp": meeting.group,
                                              "sender_rid": p.rid}))
            for o in meeting.participants.values():
                if o is p:
                    continue
                for sender, receiver in ((o, p), (p, o)):
                    slot = receiver.slots[sender.stream_id]
                    self._zero_slot(slot)
                    entries.append(c.table_entry("stream_receiver",
                                                 {"stream_id": sender.stream_id, "egress_rid": receiver.rid},
                                                 "set_slot", {"slot": slot}))
                    if sender.rtx_stream_id is not None:
                        rslot = receiver.slots[sender.rtx_stream_id]
                        self._zero_slot(rslot)
                        entries.append(c.table_entry("stream_receiver",
                                                     {"stream_id": sender.rtx_stream_id, "egress_rid": receiver.rid},
                                                     "set_rtx_slot", {"slot": rslot, "media_slot": slot}))
            c.insert(*entries)
        if left is not None:
            p = left
            entries = [c.table_entry("stream", {"ssrc": p.ssrc}), c.table_entry("feedback_target", {"media_ssrc": p.ssrc}),
                       c.table_entry("receiver_rewrite", {"rid": p.rid}),
                       c.table_entry("receiver_layer", {"egress_rid": p.rid})]
            if p.rtx_ssrc is not None:
                entries.append(c.table_entry("stream", {"ssrc": p.rtx_ssrc}))
            for o in meeting.participants.values():
                entries += [c.table_entry("stream_receiver", {"stream_id": s, "egress_rid": o.rid}) for s in p.streams()]
                entries += [c.table_entry("stream_receiver", {"stream_id": s, "egress_rid": p.rid}) for s in o.streams()]
            c.delete(*entries)

    def _zero_slot(self, slot: int) -> None:
        self.c.write_register(f"{E}.seq_state", slot, 0)
        base = slot << SEQ_HISTORY_BITS
        for i in range(1 << SEQ_HISTORY_BITS):
            self.c.write_register(f"{E}.seq_history", base + i, 0)

    def set_layer(self, receiver: Participant, tid: int) -> None:
        """MODIFY the receiver's maximum temporal layer (inserted at join)."""
        self.c.modify(self.c.table_entry("receiver_layer", {"egress_rid": receiver.rid}, "set_max_layer",
                                         {"max_tid": tid}))

    def original_seq(self, sender: Participant, receiver: Participant, seq: int) -> int | None:
        """The original of what the receiver got as `seq`, from the slot's `seq_history`.

        First guess: `seq` + the packets the slot has dropped so far (from `seq_state`), which is right
        unless layer drops happened since; checked against that one history cell. Otherwise the 64
        cells are searched (two one-cell reads instead of a 64-cell read on the common path).
        """
        slot = receiver.slots.get(sender.stream_id)
        if slot is None:
            return None
        base = slot << SEQ_HISTORY_BITS
        (state,) = read_register_cells(self.c, f"{E}.seq_state", [slot])
        guess = (seq + (state & 0xFFFF)) & 0xFFFF
        (cell,) = read_register_cells(self.c, f"{E}.seq_history", [base + (guess & ((1 << SEQ_HISTORY_BITS) - 1))])
        if cell >> 32 == HIST_KEPT and cell & 0xFFFF == seq:
            return (cell >> 16) & 0xFFFF
        for cell in read_register_cells(self.c, f"{E}.seq_history", [base + i for i in range(1 << SEQ_HISTORY_BITS)]):
            if cell >> 32 == HIST_KEPT and cell & 0xFFFF == seq:
                return (cell >> 16) & 0xFFFF
        return None

    def send(self, to: Participant, payload: bytes) -> None:
        """Packet-out of a UDP payload from the SFU's address to the participant's port."""
        eth = to.mac.to_bytes(6, "big") + self.sfu_mac.to_bytes(6, "big") + ETHERNET_IPV4[12:]
        self.c.packet_out(eth + udp_ipv4(self.sfu_ip, to.ip, self.sfu_port, to.port, payload),
                          egress_port=to.switch_port)
        self.packets_out += 1

"""The software-SFU baseline: the same control core and decisions, with forwarding done in the control
process (every packet crosses user space), as a mediasoup-style SFU does.

Forwarding matches the P4 program's semantics: replicate a sender's RTP to every other participant of its
meeting, drop packets above a receiver's temporal layer, rewrite the sequence number per (stream,
receiver) so each receiver sees one gap-free run (retransmissions get the number their original got),
SR replicated, PLI/FIR to the media's sender, everything else (STUN, REMB/RR, NACK, unknown) to the
control core.
"""
from __future__ import annotations

import struct
from typing import Callable

from netkit.apps.sfu.control import RTX_PT, Meeting, Participant, SfuControl, _classify

HISTORY = 1024


class _Slot:
    """Sequence rewriting of one (stream, receiver): highest original, dropped so far, original -> sent."""

    __slots__ = ("highest", "offset", "sent")

    def __init__(self) -> None:
        self.highest: int | None = None
        self.offset = 0
        self.sent: dict[int, int | None] = {}

    def rewrite(self, seq: int, keep: bool) -> int | None:
        if self.highest is None:
            self.highest = (seq - 1) & 0xFFFF
        ahead = (seq - self.highest) & 0xFFFF
        if 0 < ahead < 0x8000:
            for k in range(1, min(ahead, 4)):        # a short gap lost upstream keeps its numbers
                s = (seq - k) & 0xFFFF
                self.sent[s] = (s - self.offset) & 0xFFFF
            self.highest = seq
            if keep:
                out = (seq - self.offset) & 0xFFFF
            else:
                self.offset = (self.offset + 1) & 0xFFFF
                out = None
            self.sent[seq] = out
            if len(self.sent) > HISTORY:
                for old in list(self.sent)[:len(self.sent) - HISTORY]:
                    del self.sent[old]
            return out
        if seq in self.sent:
            return self.sent[seq]
        return (seq - self.offset) & 0xFFFF if keep else None


class SoftwareForwarder:
    """Backend of the control core that forwards media itself; `emit(participant, payload)` sends."""

    def __init__(self, emit: Callable[[Participant, bytes], None]):
        self.emit = emit
        self.control: SfuControl | None = None
        self.meetings: dict[str, Meeting] = {}
        self.layers: dict[int, int] = {}                 # rid -> max tid
        self.slots: dict[tuple[int, int], _Slot] = {}    # (stream_id, receiver rid) -> slot
        self.to_control = 0
        self.to_control_bytes = 0

    # ---- Backend
    def meeting_changed(self, meeting: Meeting, joined: Participant | None, left: Participant | None) -> None:
        """Track the meeting; new (stream, receiver) pairs start fresh numbering."""
        self.meetings[meeting.name] = meeting
        if left is not None:
            self.slots = {k: v for k, v in self.slots.items() if k[0] not in left.streams() and left.rid != k[1]}

    def set_layer(self, receiver: Participant, tid: int) -> None:
        """Forward layers up to `tid` to `receiver`."""
        self.layers[receiver.rid] = tid

    def original_seq(self, sender: Participant, receiver: Participant, seq: int) -> int | None:
        """The original number of what `receiver` got as `seq`."""
        slot = self.slots.get((sender.stream_id, receiver.rid))
        if slot is None:
            return None
        for orig, sent in slot.sent.items():
            if sent == seq:
                return orig
        return None

    def send(self, to: Participant, payload: bytes) -> None:
        """Send from the SFU to a participant."""
        self.emit(to, payload)

    # ---- forwarding
    def forward(self, src: tuple[str, int], payload: bytes, now_us: int) -> int:
        """Handle one datagram from a participant; return the number of copies sent."""
        ctl = self.control
        kind = _classify(payload)
        if kind == "rtp":
            ssrc = int.from_bytes(payload[8:12], "big")
            sender = ctl.by_ssrc.get(ssrc)
            if sender is not None and sender.meeting in ctl.meetings:
                return self._media(sender, payload)
            sender = ctl.by_rtx_ssrc.get(ssrc)
            if sender is not None and sender.meeting in ctl.meetings and payload[1] & 0x7F == RTX_PT:
                return self._rtx(sender, payload)
        elif kind == "rtcp":
            pt = payload[1]
            ssrc = int.from_bytes(payload[4:8], "big")
            if pt == 200:
                sender = ctl.by_ssrc.get(ssrc)
                if sender is not None:
                    return self._replicate(sender, payload)
            elif pt == 206 and payload[0] & 0x1F in (1, 4) and len(payload) >= 12:
                target = ctl.by_ssrc.get(int.from_bytes(payload[8:12], "big"))
                if target is not None:
                    self.emit(target, payload)
                    return 1
        self.to_control += 1
        self.to_control_bytes += len(payload)
        ctl.packet(src, payload, now_us)
        return 0

    def _replicate(self, sender: Participant, payload: bytes) -> int:
        n = 0
        for r in self.control.meetings[sender.meeting].participants.values():
            if r is not sender:
                self.emit(r, payload)
                n += 1
        return n

    def _rtx(self, sender: Participant, payload: bytes) -> int:
        """An RTX packet (RFC 4588): its own numbering per receiver, its OSN the number the receiver got the
        original as; a receiver that never got the original gets no copy (the data plane's semantics)."""
        seq = int.from_bytes(payload[2:4], "big")
        off = _payload_offset(payload)
        osn = int.from_bytes(payload[off:off + 2], "big") if len(payload) >= off + 2 else None
        n = 0
        for r in self.control.meetings[sender.meeting].participants.values():
            if r is sender or sender.rtx_stream_id not in r.slots:
                continue
            media = self.slots.get((sender.stream_id, r.rid))
            mapped = media.sent.get(osn) if media is not None and osn is not None else None
            slot = self.slots.get((sender.rtx_stream_id, r.rid))
            if slot is None:
                slot = self.slots[(sender.rtx_stream_id, r.rid)] = _Slot()
            out = slot.rewrite(seq, mapped is not None)
            if out is None or mapped is None:
                continue
            self.emit(r, payload[:2] + struct.pack("!H", out) + payload[4:off] + struct.pack("!H", mapped)
                      + payload[off + 2:])
            n += 1
        return n

    def _media(self, sender: Participant, payload: bytes) -> int:
        tid = _vp8_tid(payload)
        seq = int.from_bytes(payload[2:4], "big")
        n = 0
        for r in self.control.meetings[sender.meeting].participants.values():
            if r is sender or sender.stream_id not in r.slots:
                continue
            slot = self.slots.get((sender.stream_id, r.rid))
            if slot is None:
                slot = self.slots[(sender.stream_id, r.rid)] = _Slot()
            out = slot.rewrite(seq, tid <= self.layers.get(r.rid, 7))
            if out is None:
                continue
            self.emit(r, payload[:2] + struct.pack("!H", out) + payload[4:])
            n += 1
        return n


def _payload_offset(payload: bytes) -> int:
    """Where an RTP packet's payload starts (after CSRCs and the extension block)."""
    off = 12 + 4 * (payload[0] & 0x0F)
    if payload[0] & 0x10 and len(payload) >= off + 4:
        off += 4 + 4 * int.from_bytes(payload[off + 2:off + 4], "big")
    return off


def _vp8_tid(payload: bytes) -> int:
    """TID of a VP8 payload descriptor (RFC 7741) after a plain 12-byte RTP header; 0 when absent."""
    cc = payload[0] & 0x0F
    off = 12 + 4 * cc
    if payload[0] & 0x10 and len(payload) >= off + 4:
        off += 4 + 4 * int.from_bytes(payload[off + 2:off + 4], "big")
    if len(payload) <= off or not payload[off] & 0x80:
        return 0
    x = payload[off + 1] if len(payload) > off + 1 else 0
    i = off + 2
    if x & 0x80:                     # I: picture id, 7 or 15 bits
        i += 2 if len(payload) > i and payload[i] & 0x80 else 1
    if x & 0x40:                     # L: TL0PICIDX
        i += 1
    if x & 0x20 and len(payload) > i:
        return payload[i] >> 6
    return 0

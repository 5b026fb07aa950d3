"""The SFU control plane as a sans-I/O core: meetings, participants and streams from signalling messages,
STUN answers, RTCP analysis (REMB, or transport-cc feedback with the senders' send logs through
`netkit.apps.sfu.twcc.TwccEstimate` -> smoothed downlink estimate -> temporal layer per receiver, PLI on a
move up, NACKs mapped back to the sender's sequence numbers), and what the data plane must hold.

The core never does I/O itself. It drives a `Backend`:

* `P4Backend` (netkit/apps/sfu/p4backend.py) writes the data-plane state over P4Runtime (a
  `P4RuntimeClient`, or `LocalP4Runtime` in the simulator) and answers by packet-out;
* `SoftwareForwarder` (netkit/apps/sfu/software.py) is the software-SFU baseline: the same decisions,
  forwarding done in this process.

Signalling messages are small JSON-able dicts (`{"type": "create", "meeting": "m1"}`, `{"type": "join",
"meeting": "m1", "participant": "alice", "ip": ..., "port": ..., "mac": ..., "switch_port": ...,
"ssrc": ...}`, `{"type": "leave", ...}`); each gets a reply dict (`{"ok": true, ...}` or `{"ok": false,
"error": ...}`). Bad input (malformed RTP/RTCP/STUN, unknown SSRCs, unknown meetings or participants) is
counted in `SfuControl.bad` by reason and dropped with one log line; nothing else changes.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from aioice import stun
from aiortc.rtp import (RtcpPacket, RtcpPsfbPacket, RtcpRrPacket, RtcpRtpfbPacket, RtcpSrPacket,
                        unpack_remb_fci)

from netkit.apps.sfu.layers import LayerChooser, LayerPolicy
from netkit.apps.sfu.twcc import (RTCP_APP, RTCP_RTPFB, TWCC_FMT, SendLogs, TwccEstimate, parse_feedback,
                                  parse_send_log, rtcp_parts)

log = logging.getLogger("netkit.sfu")

SFU_SSRC = 0x5F0            # the SSRC the SFU's own RTCP (PLI, translated NACK) carries
RTX_PT, RTX_APT = 97, 96       # the data plane's RTX payload type and the payload type it retransmits (VP8)
MAX_PARTICIPANTS = 4094     # replication ids 1..4094 (one per participant on the switch)
MAX_SLOTS = 4096            # sequence-rewrite slots of the data plane
NACK_REPEAT_US = 100_000    # a packet NACKed by several receivers is asked of its sender once per 100 ms


@dataclass
class Participant:
    """One participant: where it sits (switch port, addresses), the stream it sends, its layer and estimate."""

    name: str
    meeting: str
    rid: int
    switch_port: int
    ip: str
    port: int
    mac: int
    ssrc: int
    stream_id: int
    chooser: LayerChooser
    slots: dict[int, int] = field(default_factory=dict)   # sender stream_id -> sequence slot of this receiver
    rtx_ssrc: int | None = None          # RFC 4588 retransmissions on their own SSRC (negotiated at join)
    rtx_stream_id: int | None = None     # the RTX stream: one more stream to the data plane

    def streams(self) -> list[int]:
        """The stream ids this participant sends (its media, and its RTX stream if negotiated)."""
        return [self.stream_id] if self.rtx_stream_id is None else [self.stream_id, self.rtx_stream_id]


@dataclass
class Meeting:
    """A meeting: its multicast group and participants by name."""

    name: str
    group: int
    participants: dict[str, Participant] = field(default_factory=dict)


class Backend(Protocol):
    """What the control core needs from a data plane (P4 switch or software forwarder)."""

    def meeting_changed(self, meeting: Meeting, joined: Participant | None, left: Participant | None) -> None:
        """Install or update what the data plane holds for a meeting after a join or leave."""

    def set_layer(self, receiver: Participant, tid: int) -> None:
        """Forward temporal layers up to `tid` to `receiver`."""

    def original_seq(self, sender: Participant, receiver: Participant, seq: int) -> int | None:
        """The sender's sequence number of the packet `receiver` got as `seq`, or None when unknown."""

    def send(self, to: Participant, payload: bytes) -> None:
        """Send a UDP payload from the SFU to a participant (packet-out)."""


class SfuControl:
    """The control core: signalling, STUN, RTCP analysis and layer decisions over a `Backend`."""

    def __init__(self, backend: Backend, sfu_ip: str, sfu_port: int, policy: LayerPolicy | None = None):
        self.backend = backend
        self.sfu_ip, self.sfu_port = sfu_ip, sfu_port
        self.policy = policy or LayerPolicy()
        self.meetings: dict[str, Meeting] = {}
        self.by_ssrc: dict[int, Participant] = {}
        self.by_rtx_ssrc: dict[int, Participant] = {}
        self.by_addr: dict[tuple[str, int], Participant] = {}
        self.bad: Counter[str] = Counter()
        self.handled: Counter[str] = Counter()     # control-plane packets by kind (stun, rtp, rtcp_rr, rtcp_nack, ...)
        self.handled_bytes: Counter[str] = Counter()
        self.layer_changes: list[tuple[int, str, int, int]] = []   # (t_us, receiver, old tid, new tid)
        self._next_rid = 1
        self._next_stream = 1
        self._next_slot = 0
        self._next_group = 1
        self.nacks_deduplicated = 0
        self.send_logs = SendLogs()                    # TWCC clients' send logs (netkit/apps/sfu/twcc.py)
        self.twcc: dict[int, TwccEstimate] = {}        # receiver SSRC -> its estimate from transport-cc feedback
        self.estimates: list[tuple[int, str, str, float]] = []   # (t_us, receiver, "remb"|"twcc", bit/s)
        self._asked: dict[tuple[int, int], int] = {}   # (sender ssrc, original seq) -> when a NACK last asked for it

    # ------------------------------------------------------------------ bad input
    def _drop(self, reason: str, detail: str) -> None:
        self.bad[reason] += 1
        log.warning("sfu: dropped %s: %s", reason, detail)

    # ------------------------------------------------------------------ signalling
    def signal(self, msg: Any) -> dict[str, Any]:
        """Handle one signalling message; the reply says ok or names what was wrong."""
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self._drop("bad_signal", f"expected a JSON object with a string 'type', got {msg!r:.80}")
            return {"ok": False, "error": "expected an object with a string 'type'"}
        kind = msg["type"]
        try:
            if kind == "create":
                return self._create(_str(msg, "meeting"))
            if kind == "join":
                return self._join(msg)
            if kind == "leave":
                return self._leave(_str(msg, "meeting"), _str(msg, "participant"))
        except ValueError as exc:
            self._drop("bad_signal", f"{kind}: {exc}")
            return {"ok": False, "error": str(exc)}
        self._drop("bad_signal", f"unknown message type {kind!r} (expected create, join or leave)")
        return {"ok": False, "error": f"unknown message type {kind!r}"}

    def _create(self, name: str) -> dict[str, Any]:
        if name in self.meetings:
            raise ValueError(f"meeting {name!r} exists")
        self.meetings[name] = Meeting(name, self._next_group)
        self._next_group += 1
        return {"ok": True, "meeting": name, "group": self.meetings[name].group}

    def _join(self, msg: dict) -> dict[str, Any]:
        name = _str(msg, "meeting")
        meeting = self.meetings.get(name)
        if meeting is None:
            self.bad["unknown_meeting"] += 1
            log.warning("sfu: dropped join: unknown meeting %r", name)
            return {"ok": False, "error": f"unknown meeting {name!r}"}
        who = _str(msg, "participant")
        if who in meeting.participants:
            raise ValueError(f"participant {who!r} already in meeting {name!r}")
        ssrc = _int(msg, "ssrc", 1, 0xFFFFFFFF)
        if ssrc in self.by_ssrc or ssrc in self.by_rtx_ssrc or ssrc == SFU_SSRC:
            raise ValueError(f"ssrc {ssrc:#x} is in use")
        rtx = None
        if msg.get("rtx_ssrc") is not None:       # RFC 4588 on a separate SSRC, payload type RTX_PT (apt RTX_APT)
            rtx = _int(msg, "rtx_ssrc", 1, 0xFFFFFFFF)
            if rtx in self.by_ssrc or rtx in self.by_rtx_ssrc or rtx in (SFU_SSRC, ssrc):
                raise ValueError(f"rtx_ssrc {rtx:#x} is in use")
            if msg.get("rtx_pt", RTX_PT) != RTX_PT:
                raise ValueError(f"'rtx_pt': the data plane retransmits with payload type {RTX_PT}, "
                                 f"got {msg.get('rtx_pt')!r:.20}")
        if self._next_rid > MAX_PARTICIPANTS:
            raise ValueError("the switch has no replication id left")
        p = Participant(who, name, self._next_rid, _int(msg, "switch_port", 0, 510), _str(msg, "ip"),
                        _int(msg, "port", 1, 65535), _int(msg, "mac", 0, (1 << 48) - 1), ssrc, self._next_stream,
                        LayerChooser(self.policy))
        others = list(meeting.participants.values())
        if rtx is not None:
            p.rtx_ssrc, p.rtx_stream_id = rtx, self._next_stream + 1
        wanted = sum(len(o.streams()) + len(p.streams()) for o in others)
        if self._next_slot + wanted > MAX_SLOTS:
            raise ValueError("the switch has no sequence slot left")
        self._next_rid += 1
        self._next_stream += len(p.streams())
        for o in others:   # one slot per (stream, receiver) in each direction
            for sender, receiver in ((o, p), (p, o)):
                for stream in sender.streams():
                    receiver.slots[stream] = self._next_slot
                    self._next_slot += 1
        meeting.participants[who] = p
        self.by_ssrc[ssrc] = p
        if rtx is not None:
            self.by_rtx_ssrc[rtx] = p
        self.by_addr[(p.ip, p.port)] = p
        self.backend.meeting_changed(meeting, p, None)
        self.backend.set_layer(p, p.chooser.tid)
        return {"ok": True, "meeting": name, "participant": who, "rid": p.rid,
                "peers": [o.name for o in others],
                **({"rtx": {"ssrc": rtx, "pt": RTX_PT, "apt": RTX_APT}} if rtx is not None else {})}

    def _leave(self, name: str, who: str) -> dict[str, Any]:
        meeting = self.meetings.get(name)
        if meeting is None or who not in meeting.participants:
            self.bad["unknown_meeting" if meeting is None else "unknown_participant"] += 1
            log.warning("sfu: dropped leave: no participant %r in meeting %r", who, name)
            return {"ok": False, "error": f"no participant {who!r} in meeting {name!r}"}
        p = meeting.participants.pop(who)
        del self.by_ssrc[p.ssrc]
        self.by_rtx_ssrc.pop(p.rtx_ssrc, None)
        del self.by_addr[(p.ip, p.port)]
        for o in meeting.participants.values():
            for stream in p.streams():
                o.slots.pop(stream, None)
        self.backend.meeting_changed(meeting, None, p)
        return {"ok": True}

    # ------------------------------------------------------------------ packets from the data plane
    def packet(self, src: tuple[str, int], payload: bytes, now_us: int) -> None:
        """A UDP payload the data plane sent to the controller (STUN, RTCP, unknown streams)."""
        kind = _classify(payload)
        label = _rtcp_label(payload) if kind == "rtcp" else kind
        self.handled[label] += 1
        self.handled_bytes[label] += len(payload)
        if kind == "stun":
            self._stun(src, payload)
        elif kind == "rtcp":
            self._rtcp(src, payload, now_us)
        elif kind == "rtp":
            ssrc = int.from_bytes(payload[8:12], "big") if len(payload) >= 12 else -1
            self._drop("unknown_ssrc", f"RTP from {src[0]}:{src[1]} with ssrc {ssrc:#x} that no participant sends")
        else:
            self._drop("malformed", f"{len(payload)}-byte datagram from {src[0]}:{src[1]} is neither STUN, RTP nor RTCP")

    def _sender(self, src: tuple[str, int], what: str) -> Participant | None:
        """The participant that sends from `src`; None (the packet dropped as `unknown_participant`) if none."""
        p = self.by_addr.get(src)
        if p is None:
            self._drop("unknown_participant", f"{what} from {src[0]}:{src[1]}, not a participant")
        return p

    def _stun(self, src: tuple[str, int], payload: bytes) -> None:
        try:
            req = stun.parse_message(payload)
        except ValueError as exc:
            self._drop("malformed_stun", f"from {src[0]}:{src[1]}: {exc}")
            return
        if req.message_method != stun.Method.BINDING or req.message_class != stun.Class.REQUEST:
            self._drop("malformed_stun", f"from {src[0]}:{src[1]}: not a binding request")
            return
        p = self._sender(src, "STUN binding request")
        if p is None:
            return
        resp = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                            transaction_id=req.transaction_id)
        resp.attributes["XOR-MAPPED-ADDRESS"] = src
        self.backend.send(p, bytes(resp))

    def _rtcp(self, src: tuple[str, int], payload: bytes, now_us: int) -> None:
        try:
            packets = RtcpPacket.parse(payload)
        except (ValueError, IndexError) as exc:   # aiortc raises ValueError; a short FCI can raise IndexError
            self._drop("malformed_rtcp", f"from {src[0]}:{src[1]}: {exc}")
            return
        p = self._sender(src, "RTCP")
        if p is None:
            return
        if b"NKSL" in payload or any(pt == RTCP_RTPFB and fmt == TWCC_FMT for pt, fmt, _ in rtcp_parts(payload)):
            self._twcc(p, payload, now_us)
        for pkt in packets:
            if isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == TWCC_FMT:
                continue       # handled above (aiortc parses the FMT 15 body as if it were a NACK)
            if isinstance(pkt, RtcpPsfbPacket) and pkt.fmt == 15:
                self._remb(p, pkt, now_us)
            elif isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == 1:
                self._nack(p, pkt, now_us)
            elif isinstance(pkt, RtcpPsfbPacket) and pkt.fmt in (1, 4):
                self._forward_keyframe_request(p, pkt)
            elif isinstance(pkt, (RtcpRrPacket, RtcpSrPacket)):
                pass   # reception statistics: loss and jitter are read by the receivers' own metrics
            # other RTCP (SDES, BYE, TWCC) is accepted and not acted on

    def _twcc(self, p: Participant, payload: bytes, now_us: int) -> None:
        """A compound with a send log (p as a sender) and/or transport-cc feedback (p as a receiver)."""
        feedback = False
        try:
            for pt, fmt, body in rtcp_parts(payload):
                if pt == RTCP_APP:
                    log_ = parse_send_log(body)
                    if log_ is not None and log_[0] == p.ssrc:
                        self.send_logs.add(p.ssrc, log_[1])
                        for other in self.meetings[p.meeting].participants.values():
                            if other.ssrc in self.twcc:
                                self.twcc[other.ssrc].match()
                elif pt == RTCP_RTPFB and fmt == TWCC_FMT:
                    _sender, media, arrivals = parse_feedback(body)
                    est = self.twcc.get(p.ssrc)
                    if est is None:
                        est = self.twcc[p.ssrc] = TwccEstimate(self.send_logs)
                    est.feedback(media, arrivals)
                    feedback = True
        except ValueError as exc:
            self._drop("malformed_rtcp", f"transport-cc from {p.name}: {exc}")
            return
        bps = self.twcc[p.ssrc].update(now_us) if feedback else None
        if bps is not None:
            self._estimate(p, "twcc", bps, now_us)

    def _remb(self, receiver: Participant, pkt: RtcpPsfbPacket, now_us: int) -> None:
        try:
            bitrate, _ssrcs = unpack_remb_fci(pkt.fci)
        except ValueError as exc:
            self._drop("malformed_rtcp", f"REMB from {receiver.name}: {exc}")
            return
        self._estimate(receiver, "remb", bitrate, now_us)

    def _estimate(self, receiver: Participant, source: str, bitrate: float, now_us: int) -> None:
        """One downlink estimate of `receiver` (from its REMB or from its transport-cc feedback)."""
        self.estimates.append((now_us, receiver.name, source, bitrate))
        old = receiver.chooser.tid
        new = receiver.chooser.update(bitrate, now_us)
        if new != old:
            self.layer_changes.append((now_us, receiver.name, old, new))
            self.backend.set_layer(receiver, new)
            if new > old:
                self._request_keyframes(receiver)

    def _request_keyframes(self, receiver: Participant) -> None:
        for o in self.meetings[receiver.meeting].participants.values():
            if o is not receiver:
                self.backend.send(o, bytes(RtcpPsfbPacket(fmt=1, ssrc=SFU_SSRC, media_ssrc=o.ssrc)))

    def _forward_keyframe_request(self, receiver: Participant, pkt: RtcpPsfbPacket) -> None:
        sender = self.by_ssrc.get(pkt.media_ssrc)
        if sender is None or sender.meeting != receiver.meeting:
            self._drop("unknown_ssrc", f"keyframe request from {receiver.name} for unknown ssrc {pkt.media_ssrc:#x}")
            return
        self.backend.send(sender, bytes(RtcpPsfbPacket(fmt=pkt.fmt, ssrc=SFU_SSRC, media_ssrc=sender.ssrc,
                                                       fci=pkt.fci)))

    def _nack(self, receiver: Participant, pkt: RtcpRtpfbPacket, now_us: int) -> None:
        sender = self.by_ssrc.get(pkt.media_ssrc)
        if sender is None or sender.meeting != receiver.meeting or sender is receiver:
            self._drop("unknown_ssrc", f"NACK from {receiver.name} for unknown ssrc {pkt.media_ssrc:#x}")
            return
        lost = []
        for seq in pkt.lost:
            orig = self.backend.original_seq(sender, receiver, seq)
            if orig is None:
                self.bad["nack_unmapped"] += 1
            elif now_us - self._asked.get((sender.ssrc, orig), -NACK_REPEAT_US) >= NACK_REPEAT_US:
                self._asked[(sender.ssrc, orig)] = now_us
                lost.append(orig)
            else:
                self.nacks_deduplicated += 1   # another receiver asked for it just now: one RTX serves all
        if len(self._asked) > 4096:
            self._asked = {k: t for k, t in self._asked.items() if now_us - t < NACK_REPEAT_US}
        if lost:
            self.backend.send(sender, bytes(RtcpRtpfbPacket(fmt=1, ssrc=SFU_SSRC, media_ssrc=sender.ssrc,
                                                            lost=sorted(set(lost)))))


def _classify(payload: bytes) -> str:
    """stun, rtcp, rtp or other (RFC 7983 demultiplexing with RFC 5761 for RTP/RTCP)."""
    if len(payload) >= 20 and payload[0] < 4 and payload[4:8] == b"\x21\x12\xa4\x42":
        return "stun"
    if len(payload) >= 8 and payload[0] >> 6 == 2 and 192 <= payload[1] <= 223:
        return "rtcp"
    if len(payload) >= 12 and payload[0] >> 6 == 2:
        return "rtp"
    return "other"


def _rtcp_label(payload: bytes) -> str:
    """What the first packet of a compound RTCP datagram is (the part the data plane routes by)."""
    pt, fmt = payload[1], payload[0] & 0x1F
    return {(200, None): "rtcp_sr", (201, None): "rtcp_rr", (205, 1): "rtcp_nack", (205, 15): "rtcp_twcc",
            (206, 1): "rtcp_pli", (206, 4): "rtcp_fir", (206, 15): "rtcp_remb"}.get(
        (pt, None) if pt in (200, 201) else (pt, fmt), "rtcp_other") + \
        ("+twcc" if pt == 201 and any(p == 205 and f == 15 for p, f, _ in rtcp_parts(payload)) else "")


def _str(msg: dict, key: str) -> str:
    value = msg.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r}: expected a non-empty string, got {value!r:.40}")
    return value


def _int(msg: dict, key: str, lo: int, hi: int) -> int:
    value = msg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{key!r}: expected an integer in {lo}..{hi}, got {value!r:.40}")
    return value

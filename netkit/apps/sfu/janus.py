"""Janus (Debian `janus`, VideoRoom plugin) as a side-by-side SFU baseline, live, on the same meetings and the same
star as the scallop and software runs (`MeetingPlan.topology()` on the emu harness's `LiveNetwork`).

* Janus runs in the star's centre namespace (`JanusServer`), one static VideoRoom per meeting, its HTTP
  API on `SFU_IP` (on the centre's loopback). Its ICE host candidates are the centre ends of the
  participants' links: libnice sends each candidate's packets out of that candidate's own interface
  (a candidate on another interface, loopback or a veth, answered STUN checks into nowhere), so each
  participant connects through the candidate on its own link (ICE finds it; the others fail).
* Each participant is its own process (`netkit.apps.sfu.janus_client`) in its host's namespace: aiortc
  (ICE, DTLS-SRTP) publishes one VP8 stream and subscribes to every other feed of its meeting, over
  Janus's HTTP API; the signalling, ICE and DTLS cross the participant's trace-driven links like the media.
* Forwarding latency: SRTP encrypts payloads, not RTP headers, but Janus rewrites SSRC, sequence numbers
  and timestamps per subscriber. A kernel-timestamped AF_PACKET tap in the centre records every RTP
  header in (from a participant's link) and out (onto another's); afterwards each outgoing stream is
  matched to the incoming stream of its meeting, and the constant sequence and timestamp offsets,
  that explain most of its packets; each copy's latency is its departure less its original's arrival
  (retransmissions, on RTX SSRCs, are left out). The same quantity as the scallop/software tap measures.
* Janus serves everything in user space: the control-plane share is 100%, as for the software SFU.

Janus does not adapt to a constrained receiver the way the P4 SFU does: aiortc's encoder makes no VP8
temporal layers, Janus selects temporal layers only for simulcast publishers, and VideoRoom 1.1.2
ignores subscribers' REMB (`janus_videoroom_incoming_rtcp`: "FIXME We got a REMB from this subscriber,
should we do something about it?"). The only rate signal the publisher gets is the room's fixed REMB
cap (`PUBLISHER_BITRATE`), so a receiver behind a slow link gets every frame at the full rate, queued.
"""
from __future__ import annotations

import asyncio
import bisect
import struct
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

from netkit.apps.sfu.janus_server import RTP_PORTS, JanusServer, janus_binary
from netkit.apps.sfu.live import LEAD_US, SFU_IP, _live_gaps
from netkit.apps.sfu.procgroup import ProcessGroup
from netkit.apps.sfu.sim import MeetingPlan, _summary
from netkit.apps.sfu.tap import PACKET_OUTGOING, PacketTap

RTCP_KINDS = {(205, 1): "nack", (206, 1): "pli"}     # (packet type, FMT)
SETUP_GRACE_S = 10.0            # participant processes get this long past the run's end to close and write


class HeaderTap(PacketTap):
    """Kernel-timestamped tap in the centre: the RTP header of every packet to and from Janus's
    media ports, with the link it crossed; `close()` stops it."""

    def __init__(self, ns: str, devices: dict[str, int]):
        super().__init__(ns, "janus-tap")
        self.devices = devices              # centre-side link device -> participant index
        self.rtp_in: list[tuple] = []       # (t_ns, host, ssrc, seq, ts, ip_len)
        self.rtp_out: list[tuple] = []
        self.feedback: Counter = Counter()  # (participant, "nack" | "pli") -> RTCP packets it sent
        self.packets_in = [0, 0]            # every IP packet the participants sent into the centre: packets, bytes
        self.start()

    def on_packet(self, data: bytes, addr: tuple, t: int) -> None:
        """Count what participants send; keep RTP headers and NACK/PLI counts."""
        lo, hi = RTP_PORTS
        host = self.devices.get(addr[0])
        if host is None or len(data) < 28 or data[0] >> 4 != 4:
            return
        out = addr[2] == PACKET_OUTGOING
        ip_len = struct.unpack_from("!H", data, 2)[0]
        if not out:                 # everything a participant sends goes to Janus (the centre forwards nothing)
            self.packets_in[0] += 1
            self.packets_in[1] += ip_len
        if data[9] != 17:
            return
        ihl = (data[0] & 0xF) * 4
        sport, dport = struct.unpack_from("!HH", data, ihl)
        port = sport if out else dport
        rtp = data[ihl + 8:]
        if not lo <= port <= hi or len(rtp) < 12 or rtp[0] >> 6 != 2:
            return
        if 192 <= rtp[1] <= 223:        # SRTCP: the first 8 bytes (type, sender SSRC) are in the clear
            if not out and (rtp[1], rtp[0] & 0x1F) in RTCP_KINDS:
                self.feedback[(host, RTCP_KINDS[(rtp[1], rtp[0] & 0x1F)])] += 1
            return
        seq, ts, ssrc = struct.unpack_from("!HII", rtp, 2)
        (self.rtp_out if out else self.rtp_in).append((t, host, ssrc, seq, ts, ip_len))

    def close(self) -> None:
        """Stop reading."""
        self.stop()


def _streams(records: list[tuple]) -> dict[tuple[int, int], list[tuple]]:
    """(host, ssrc) -> first sighting of each sequence number, in time order: (t, seq, ts)."""
    out: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    seen: set[tuple[int, int, int]] = set()
    for t, host, ssrc, seq, ts, _len in sorted(records):
        if (host, ssrc, seq) in seen:
            continue
        seen.add((host, ssrc, seq))
        out[(host, ssrc)].append((t, seq, ts))
    return out


def match_forwarding(rtp_in: list[tuple], rtp_out: list[tuple], meeting_of: dict[int, int],
                     media: set[tuple[int, int]] | None = None, sample: int = 200, window_ns: int = 500_000_000,
                     min_share: float = 0.5) -> dict:
    """Per-copy forwarding latency (ns) from headers alone: each outgoing stream is paired with the incoming
    stream of another participant of its meeting, and the sequence/timestamp offsets, that explain most of
    a sample of its packets; then every outgoing packet whose original is found counts. With `media`
    ((host, ssrc) of the video streams the SDPs named), other streams (RTX: retransmissions) are left out.

    Returns {"latency_ns": [...], "streams": {(out host, out ssrc): (in host, in ssrc)}, "unmatched": n,
    "other_streams": n}."""
    ins, outs = _streams(rtp_in), _streams(rtp_out)
    other = 0
    if media is not None:
        other = sum(1 for k in outs if k not in media) + sum(1 for k in ins if k not in media)
        ins = {k: v for k, v in ins.items() if k in media}
        outs = {k: v for k, v in outs.items() if k in media}
    in_times = {k: [p[0] for p in v] for k, v in ins.items()}
    in_by_seq = {k: {p[1]: p for p in v} for k, v in ins.items()}
    latency: list[int] = []
    pairs: dict = {}
    unmatched = 0
    for (oh, ossrc), opk in outs.items():
        best = None
        for (ih, issrc), ipk in ins.items():
            if ih == oh or meeting_of.get(ih) != meeting_of.get(oh):
                continue
            votes: Counter = Counter()
            times = in_times[(ih, issrc)]
            for t, seq, ts in opk[:sample]:
                a = bisect.bisect_left(times, t - window_ns)
                b = bisect.bisect_right(times, t)
                for _t, iseq, its in ipk[a:b]:
                    votes[((seq - iseq) & 0xFFFF, (ts - its) & 0xFFFFFFFF)] += 1
            if votes:
                offsets, n = votes.most_common(1)[0]
                if best is None or n > best[0]:
                    best = (n, (ih, issrc), offsets)
        if best is None or best[0] < min_share * min(sample, len(opk)):
            unmatched += 1
            continue
        _n, key, (dseq, dts) = best
        pairs[(oh, ossrc)] = key
        by_seq = in_by_seq[key]
        for t, seq, ts in opk:
            orig = by_seq.get((seq - dseq) & 0xFFFF)
            if orig is not None and (orig[2] + dts) & 0xFFFFFFFF == ts and 0 <= t - orig[0] < window_ns:
                latency.append(t - orig[0])
    return {"latency_ns": latency, "streams": pairs, "unmatched": unmatched, "other_streams": other}


def _janus_participants(plan: MeetingPlan, tmp: str, names: list[str], feeds: list[int], hosts, end_us: int,
                        url: str, realtime: bool, log_dir: str | None = None) -> ProcessGroup:
    """One `netkit.apps.sfu.janus_client` process per participant: started, released together, collected."""
    specs = []
    n = plan.participants
    for i, name in enumerate(names):
        m = i // n
        peers = {feeds[j]: names[j] for j in range(m * n, (m + 1) * n) if j != i}
        specs.append({"name": name, "feed": feeds[i], "room": 1001 + m, "netns": hosts[i][0],
                      "janus": url, "peers": peers, "start_us": 1000 * (i % 33), "end_us": end_us,
                      "realtime": realtime})
    return ProcessGroup("netkit.apps.sfu.janus_client", specs, tmp, "Janus participant", "janus-part",
                        log_dir=log_dir, finish_timeout_s=SETUP_GRACE_S)


def _add_sfu_address(center: str) -> None:
    """SFU_IP (Janus's HTTP API) on the centre's loopback, as the software SFU has it."""
    from pyroute2 import IPRoute

    from netkit.emu import netns

    with netns.enter(center), IPRoute() as ipr:
        ipr.addr("add", index=ipr.link_lookup(ifname="lo")[0], address=SFU_IP, prefixlen=32)


def run_meetings_janus(plan: MeetingPlan, log_dir: str | None = None, realtime: bool = True) -> dict:
    """Run the plan live through Janus; the summary `netkit sfu bench` writes under `sfus.janus`."""
    from netkit.emu.driver import run
    from netkit.emu.harness import LiveNetwork

    janus_binary()                     # one clear line before anything is built
    n = plan.participants * plan.meetings
    names = [f"m{i // plan.participants + 1}p{i % plan.participants + 1}" for i in range(n)]
    feeds = [0x1000 + i + 1 for i in range(n)]
    end_us = int(plan.duration_s * 1e6)
    net = LiveNetwork(plan.topology(), plan.seed, log_dir, "netkit sfu bench --mode emu --sfu janus",
                      realtime=realtime, first_us=0, lead_us=LEAD_US, hold_clock=True)
    with net, tempfile.TemporaryDirectory(prefix="nk-sfu-janus-") as tmp:
        from netkit.emu import netns

        center = net.namespaces["center"]
        netns.write_sysctl(center, "net.ipv4.ip_forward", "0")
        _add_sfu_address(center)
        hosts = [net.address(f"h{i + 1}", "center") for i in range(n)]
        devices = {net.links[f"h{i + 1}"].outer_dev: i for i in range(n)}
        rooms = {1001 + m: f"m{m + 1}" for m in range(plan.meetings)}
        server = JanusServer(center, SFU_IP, rooms, iface=",".join(devices),
                             log_path=Path(log_dir) / "janus.log" if log_dir else None, realtime=realtime)
        parts = _janus_participants(plan, tmp, names, feeds, hosts, end_us, server.url, realtime, log_dir)
        tap = None
        try:
            server.start()
            parts.start()
            tap = HeaderTap(center, devices)
            cpu0 = server.cpu_seconds()
            net.start_clock()
            assert net.epoch_ns is not None
            parts.go(net.epoch_ns)

            async def wait_end() -> None:
                loop = asyncio.get_running_loop()
                await asyncio.sleep(max(0.0, net.clock.to_loop_time(end_us) - loop.time()))

            run(wait_end(), realtime=False)
            cpu_s = server.cpu_seconds() - cpu0
            results = parts.finish()
        finally:
            if tap is not None:
                tap.close()
            parts.close()
            server.stop()
    meeting_of = {i: i // plan.participants for i in range(n)}
    media = {(i, r["publisher_ssrc"]) for i, r in enumerate(results) if r["publisher_ssrc"] is not None}
    media |= {(i, v["out_ssrc"]) for i, r in enumerate(results) for v in r["remote"].values() if v["out_ssrc"]}
    fwd = match_forwarding(tap.rtp_in, tap.rtp_out, meeting_of, media)
    return _janus_summary(plan, names, results, fwd, tap, cpu_s, end_us, net)


def _janus_summary(plan, names, results, fwd, tap, cpu_s, end_us, net) -> dict:
    from netkit.apps.sfu.client import RemoteStream
    from netkit.apps.sfu.live import _ControlView

    parts, received = [], {}
    for i, r in enumerate(results):
        remote = {}
        for f, v in r["remote"].items():
            st = RemoteStream(int(f))
            st.decoded_us, st.frame_delay_ms = v["decoded_us"], v["frame_delay_ms"]
            st.frame_delay_at_us = v["frame_delay_at_us"]
            remote[int(f)] = st
            if v["seqs"]:
                received[(i, int(f))] = set(v["seqs"])
        parts.append(SimpleNamespace(name=r["name"], ssrc=r["feed"], remote=remote))
    summary = _summary(plan, "janus", parts, _ControlView({}), fwd["latency_ns"], received, tap.packets_in,
                       tap.packets_in, end_us)
    _live_gaps(summary, net, names)
    for row in summary["receivers"]:
        row["nacks"] = row["recovered"] = None      # aiortc's receiver NACKs inside; counted per receiver below
    for kind in ("nack", "pli"):
        summary[f"{kind}s_by_receiver"] = {name: tap.feedback[(i, kind)] for i, name in enumerate(names)}
    summary["mode"] = "emu"
    summary["sfu_cpu_s"] = round(cpu_s, 3)
    summary["forward_latency_note"] = ("per copy, centre ingress to egress, kernel timestamps (AF_PACKET tap); "
                                       "SRTP copies matched to originals by RTP header offsets")
    lat = fwd["latency_ns"]
    summary["forward_latency_us_samples"] = [round(x / 1000, 1) for x in lat[:: max(1, len(lat) // 4000)]]
    summary["forward_streams_matched"] = len(fwd["streams"])
    summary["forward_streams_unmatched"] = fwd["unmatched"]
    summary["forward_streams_other"] = fwd["other_streams"]     # RTX and anything the SDPs did not name
    summary["setup_us"] = {r["name"]: r["events"] for r in results}
    summary["participant_errors"] = {r["name"]: r["errors"] for r in results if r["errors"]}
    summary["stamp_failures"] = sum(r["stamp_failures"] for r in results)
    summary["namespaces"] = sorted(net.namespaces.values())
    return summary

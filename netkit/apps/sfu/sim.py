"""Meetings in netkit's simulator: a star of participants (each behind its own access link per direction, from
`netkit.net.Topology`), the SFU in the middle: `scallop` (the P4 program on the software target as a
`SimSwitch`, programmed by the control core through `LocalP4Runtime`) or `software` (the baseline).

Forwarding latency is the SFU's own processing time per input packet, measured on this machine's clock
(`time.perf_counter_ns` around the pipeline or the software forwarder): the simulator's virtual time adds
none, so virtual-time delays show only the links.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from netkit.apps.sfu.client import MediaParticipant
from netkit.apps.sfu.control import SfuControl
from netkit.apps.sfu.dataplane import LocalP4Runtime
from netkit.apps.sfu.layers import LayerPolicy
from netkit.apps.sfu.media import encode_clip
from netkit.apps.sfu.p4backend import P4Backend
from netkit.apps.sfu.software import SoftwareForwarder
from netkit.apps.sfu.wire import parse_udp_ipv4, udp_ipv4
from netkit.link.packet import Packet
from netkit.net.direction import LinkDirection
from netkit.net.topology import Topology
from netkit.p4.p4info import load_p4info
from netkit.p4.sim import SimSwitch
from netkit.p4.software.device import SoftwareSwitch
from netkit.sim.build import SimNetwork
from netkit.sim.engine import Simulator
from netkit.sim.pipe import Pipe

P4INFO = Path(__file__).resolve().parents[3] / "p4" / "sfu" / "build" / "sfu.p4info.txtpb"
SFU_IP, SFU_PORT, CLIENT_PORT = "10.0.0.254", 5004, 6000
SFUS = ("scallop", "software")
FLOW_BASE = 50_000          # flow ids of participant i: FLOW_BASE + i (clear of the experiment's own flows)


@dataclass
class MeetingPlan:
    """M meetings of N participants; downlink traces go to participants in turn (i mod len)."""

    participants: int = 3
    meetings: int = 1
    traces: tuple[str, ...] = ()
    duration_s: float = 10.0
    warmup_s: float = 2.0
    delay_ms: float = 10.0
    up_loss: float = 0.0          # random loss on every participant's uplink (before the SFU)
    seed: int = 1
    decode: bool = True
    estimator: str = "trend"      # receivers' downlink estimate: trend (GCC-like) or queue (the first rule)
    # participants (0-based index) whose feedback is TWCC (transport-cc feedback) instead of REMB; with any,
    # every participant numbers its packets (transport-wide sequence extension) and sends its send log
    twcc: tuple[int, ...] = ()
    rtx: bool = False             # retransmissions on a separate RTX SSRC (RFC 4588), negotiated at join
    policy: LayerPolicy = field(default_factory=LayerPolicy)
    # virtual processing time (us), 0 by default: the SFU hop per media packet, and the P4 SFU's controller from a
    # packet-in to its effect (its table writes, packet-outs). Only measured values belong here
    # (benchmarks/sfu_live.py takes them from the live run it compares with).
    sfu_latency_us: int = 0
    control_latency_us: int = 0

    def topology(self) -> Topology:
        """The star: host hI is participant I (1-based, meeting-major); links from the traces."""
        n = self.participants * self.meetings
        base = LinkDirection(delay_ms=self.delay_ms / 2, queue="droptail:packets=200")
        overrides = {}
        for i in range(n):
            trace = None if self.trace_of(i) == "none" else self.trace_of(i)
            overrides[f"h{i + 1}"] = (base.with_(trace=trace), base.with_(loss=self.up_loss))
        return Topology("star", base, base, hosts=n, overrides=overrides)

    def trace_of(self, i: int) -> str:
        """The downlink trace of participant index i (0-based), or 'none'."""
        if len(self.traces) == self.participants * self.meetings and self.meetings > 1:
            return self.traces[i]          # one per host (the experiment layer's links)
        return self.traces[i % self.participants % len(self.traces)] if self.traces else "none"


RTX_SSRC_OFFSET = 0x10000       # participant SSRC + this: its RTX SSRC (when the plan negotiates RTX)


def rtx_ssrc(plan: MeetingPlan, ssrc: int) -> int | None:
    """The RTX SSRC a participant negotiates (None: retransmissions on the media SSRC)."""
    return ssrc + RTX_SSRC_OFFSET if plan.rtx else None


def join_message(plan: MeetingPlan, i: int, name: str, ip: str, ssrc: int) -> dict:
    """Participant i's join (0-based index, meeting-major), with its RTX SSRC when the plan negotiates RTX."""
    return {"type": "join", "meeting": f"m{i // plan.participants + 1}", "participant": name, "ip": ip,
            "port": CLIENT_PORT, "mac": 0x020000000000 + i + 1, "switch_port": i + 1, "ssrc": ssrc,
            **({"rtx_ssrc": rtx_ssrc(plan, ssrc), "rtx_pt": 97} if plan.rtx else {})}


def _ip(i: int) -> str:
    return f"10.1.{i // 250}.{i % 250 + 1}"


def run_meetings(plan: MeetingPlan, sfu: str, probe: bool = False) -> dict:
    """Run the plan with one SFU; return its summary (the `sfus.<name>` object of `netkit sfu bench`).

    With `probe`, the summary's `probe` holds each frame's times (`netkit.apps.sfu.breakdown`)."""
    sim = Simulator(seed=plan.seed)
    net = SimNetwork(sim, plan.topology(), plan.seed)
    run = MeetingRun(sim, net.pipes, plan, sfu, probe)
    sim.run(until=run.end_us)
    net.close_logs()
    out = run.summary()
    if probe:
        out["probe"] = run.probe_record()
    return out


class MeetingRun:
    """The meetings of a plan wired into a simulator: participants on hosts h1..hN, the SFU at the center.

    `pipes` maps the star's direction components (`hI.up`, `hI.down`) to simulator Pipes (a
    `netkit.sim.build.SimNetwork`'s, so the links are the experiment layer's).
    """

    def __init__(self, sim: Simulator, pipes: dict[str, Pipe], plan: MeetingPlan, sfu: str, probe: bool = False):
        if sfu not in SFUS:
            raise ValueError(f"unknown sfu {sfu!r}; expected one of {', '.join(SFUS)}")
        self.sim, self.plan, self.sfu, self.probe = sim, plan, sfu, probe
        self.frames_in: dict[tuple[int, int], int] = {}              # probe: (ssrc, ts) -> marker packet in
        self.frames_out: dict[tuple[int, int, int], int] = {}        # probe: (receiver, ssrc, ts) -> its copy out
        n = plan.participants * plan.meetings
        self.end_us = end_us = int(plan.duration_s * 1e6)
        self._build(sim, pipes, plan, sfu, n, end_us)

    def summary(self) -> dict:
        """The SFU's summary for the run so far."""
        return _summary(self.plan, self.sfu, self.parts, self.ctl, self.fwd_ns, self.egress_seqs,
                        self.sfu_in, self.cpu_in, min(self.sim.now, self.end_us) or self.end_us, self.sfu_out)

    def probe_record(self) -> dict:
        """Each frame's times (virtual us), in the shape the live run's `probe` has."""
        return {"sent": {p.ssrc: [[ts, a, b] for ts, (a, b) in p.sent_frames.items()] for p in self.parts},
                "sfu_in": [[ssrc, ts, t] for (ssrc, ts), t in self.frames_in.items()],
                "sfu_out": [[i, ssrc, ts, t] for (i, ssrc, ts), t in self.frames_out.items()],
                "frames": {i: {k: st.frame_log or [] for k, st in p.remote.items()} for i, p in enumerate(self.parts)},
                "loop_lateness_us": []}

    def _build(self, sim, pipes, plan, sfu, n, end_us) -> None:
        clip = encode_clip()
        parts = [MediaParticipant(f"m{i // plan.participants + 1}p{i % plan.participants + 1}", 0x1000 + i + 1,
                                  clip, start_us=1000 * (i % 33), decode=plan.decode, estimator=plan.estimator,
                                  probe=self.probe, twcc=i in plan.twcc, tw_send=bool(plan.twcc),
                                  rtx_ssrc=rtx_ssrc(plan, 0x1000 + i + 1),
                                  rtx_of={rtx_ssrc(plan, 0x1000 + j + 1): 0x1000 + j + 1 for j in range(n)}
                                  if plan.rtx else None)
                 for i in range(n)]
        rtx_media = {p.rtx_ssrc: p.ssrc for p in parts if p.rtx_ssrc is not None}
        ups = [pipes[f"h{i + 1}.up"] for i in range(n)]
        downs = [pipes[f"h{i + 1}.down"] for i in range(n)]
        fwd_ns: list[int] = []
        egress_seqs: dict[tuple[int, int], set[int]] = {}
        sfu_in = [0, 0]         # packets, bytes from participants
        cpu_in = [0, 0]         # of those, what reached the control plane
        sfu_out = self.sfu_out = [0, 0]     # packets, bytes the SFU sent to participants
        self.parts, self.fwd_ns, self.egress_seqs, self.sfu_in, self.cpu_in = parts, fwd_ns, egress_seqs, sfu_in, cpu_in

        def tap(i: int, ip: bytes) -> None:
            sfu_out[0] += 1
            sfu_out[1] += len(ip)
            d = parse_udp_ipv4(ip)
            if d is not None and len(d.payload) >= 12 and d.payload[0] >> 6 == 2 and not 192 <= d.payload[1] <= 223:
                ssrc = int.from_bytes(d.payload[8:12], "big")
                egress_seqs.setdefault((i, ssrc), set()).add(int.from_bytes(d.payload[2:4], "big"))
                osn = rtx_osn(d.payload) if ssrc in rtx_media else None
                if osn is not None:      # what an RTX copy restores at the receiver counts for the media stream
                    egress_seqs.setdefault((i, rtx_media[ssrc]), set()).add(osn)
                if self.probe and d.payload[1] & 0x80:
                    self.frames_out.setdefault((i, int.from_bytes(d.payload[8:12], "big"),
                                                int.from_bytes(d.payload[4:8], "big")), sim.now)

        def probe_in(ip: bytes, t: int) -> None:
            if self.probe and len(ip) >= 40 and ip[29] & 0x80 and not 192 <= ip[29] <= 223 and ip[28] >> 6 == 2:
                self.frames_in.setdefault((int.from_bytes(ip[36:40], "big"), int.from_bytes(ip[32:36], "big")), t)

        def deliver_down(i: int, ip: bytes, now: int) -> None:
            tap(i, ip)
            downs[i].send(Packet(size=len(ip), flow=FLOW_BASE + i, sent=now, raw=ip))

        if sfu == "scallop":
            sw = SoftwareSwitch()
            sw.set_pipeline(load_p4info(P4INFO))
            node = SimSwitch(sim, sw, latency_us=plan.sfu_latency_us)

            def packet_in(data: bytes, now: int) -> None:
                frame = data[3:]
                d = parse_udp_ipv4(frame[14:])
                cpu_in[0] += 1
                cpu_in[1] += len(frame) - 14
                if d is not None and plan.control_latency_us:
                    sim.at(now + plan.control_latency_us, lambda: ctl.packet((d.src, d.sport), d.payload, sim.now))
                elif d is not None:
                    ctl.packet((d.src, d.sport), d.payload, now)
            node.packet_in = packet_in
            client = LocalP4Runtime(sw, packet_out=lambda frame, port: deliver_down(port - 1, frame[14:], sim.now))
            backend = P4Backend(client, SFU_IP, SFU_PORT)
            ctl = SfuControl(backend, SFU_IP, SFU_PORT, plan.policy)
            process = sw.process

            def timed(port: int, frame: bytes):
                t0 = time.perf_counter_ns()
                out = process(port, frame)
                fwd_ns.append(time.perf_counter_ns() - t0)
                return out
            sw.process = timed   # type: ignore[method-assign]

            class _Tap:
                def __init__(self, i: int):
                    self.i = i

                def send(self, pkt: Packet) -> None:
                    tap(self.i, pkt.raw)
                    downs[self.i].send(pkt)
            for i in range(n):
                node.attach(i + 1, _Tap(i), flow=FLOW_BASE + i)   # type: ignore[arg-type]

            def sfu_ingress(i: int):
                sink = node.ingress(i + 1)

                def f(pkt: Packet, t: int) -> None:
                    sfu_in[0] += 1
                    sfu_in[1] += pkt.size
                    probe_in(pkt.raw, t)
                    sink(pkt, t)
                return f
        else:
            def emit(to, payload: bytes) -> None:
                deliver_down(to.switch_port - 1, udp_ipv4(SFU_IP, to.ip, SFU_PORT, to.port, payload), sim.now)
            fwd = SoftwareForwarder(emit)
            ctl = SfuControl(fwd, SFU_IP, SFU_PORT, plan.policy)
            fwd.control = ctl

            def sfu_ingress(i: int):
                def f(pkt: Packet, t: int) -> None:
                    sfu_in[0] += 1
                    sfu_in[1] += pkt.size
                    probe_in(pkt.raw, t)
                    if plan.sfu_latency_us:
                        sim.at(t + plan.sfu_latency_us, forward, pkt, t + plan.sfu_latency_us)
                    else:
                        forward(pkt, t)

                def forward(pkt: Packet, t: int) -> None:
                    d = parse_udp_ipv4(pkt.raw)
                    if d is None:
                        return
                    t0 = time.perf_counter_ns()
                    before = fwd.to_control
                    fwd.forward((d.src, d.sport), d.payload, t)
                    if fwd.to_control == before:
                        fwd_ns.append(time.perf_counter_ns() - t0)
                    cpu_in[0] += 1          # every packet is handled in user space
                    cpu_in[1] += pkt.size
                return f

        for m in range(plan.meetings):
            assert ctl.signal({"type": "create", "meeting": f"m{m + 1}"})["ok"]
        for i, p in enumerate(parts):
            r = ctl.signal(join_message(plan, i, p.name, _ip(i), p.ssrc))
            if not r["ok"]:
                raise ValueError(f"join of {p.name} refused: {r['error']}")

        def send_up(i: int, payloads: list[bytes]) -> None:
            for pl in payloads:
                ip = udp_ipv4(_ip(i), SFU_IP, CLIENT_PORT, SFU_PORT, pl)
                ups[i].send(Packet(size=len(ip), flow=FLOW_BASE + i, sent=sim.now, raw=ip))

        def wake(i: int) -> None:
            p = parts[i]
            send_up(i, p.tick(sim.now))
            t = p.next_wakeup_us()
            if t < end_us:
                sim.at(t, wake, i)

        def at_participant(i: int):
            def f(pkt: Packet, t: int) -> None:
                d = parse_udp_ipv4(pkt.raw)
                if d is not None:
                    send_up(i, parts[i].receive(d.payload, t))
            return f

        for i in range(n):
            ups[i].connect(FLOW_BASE + i, sfu_ingress(i))
            downs[i].connect(FLOW_BASE + i, at_participant(i))
            sim.at(parts[i].start_us, wake, i)
            self.ctl = ctl


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def rtx_osn(payload: bytes) -> int | None:
    """The OSN of an RTX payload (after the RTP header, CSRCs and extension block), None if cut short."""
    off = 12 + 4 * (payload[0] & 0x0F)
    if payload[0] & 0x10 and len(payload) >= off + 4:
        off += 4 + 4 * int.from_bytes(payload[off + 2:off + 4], "big")
    return int.from_bytes(payload[off:off + 2], "big") if len(payload) >= off + 2 else None


def _by_source(estimates: list) -> dict[str, dict[str, int]]:
    """Per receiver, how many downlink estimates the controller took from REMB and from TWCC feedback."""
    out: dict[str, dict[str, int]] = {}
    for _t, who, source, _bps in estimates:
        out.setdefault(who, {}).setdefault(source, 0)
        out[who][source] += 1
    return out


def _summary(plan, sfu, parts, ctl, fwd_ns, egress_seqs, sfu_in, cpu_in, end_us, sfu_out=None) -> dict:
    since = int(plan.warmup_s * 1e6)
    rows, fps, delays, freeze, gaps = [], [], [], [], 0
    all_delays: list[float] = []
    rtx_gaps = 0
    by_ssrc = {p.ssrc: (i, p) for i, p in enumerate(parts)}
    for ri, r in enumerate(parts):
        meeting = ri // plan.participants
        for si, s in enumerate(parts):
            if si == ri or si // plan.participants != meeting:
                continue
            st = r.remote.get(s.ssrc)
            f = st.fps(since, end_us) if st else 0.0
            mf = st.max_freeze_ms(since, end_us) if st else (end_us - since) / 1000
            fz = st.freeze_ms(since, end_us) if st else (end_us - since) / 1000
            fps.append(f)
            freeze.append(fz / ((end_us - since) / 1000))
            window = [d for d, t in zip(st.frame_delay_ms, st.frame_delay_at_us) if since <= t < end_us] if st else []
            if st:
                delays += window           # over the measured window, as fps and freezes
                all_delays += st.frame_delay_ms
            seqs = egress_seqs.get((ri, s.ssrc), set())
            holes = 0
            if seqs:
                ordered = sorted(seqs)
                span = (ordered[-1] - ordered[0]) + 1 if ordered[-1] - ordered[0] < 0x8000 else len(seqs)
                holes = span - len(seqs)
            gaps += holes
            rtx = getattr(s, "rtx_ssrc", None)
            rseqs = sorted(egress_seqs.get((ri, rtx), ())) if rtx is not None else []
            rtx_holes = (rseqs[-1] - rseqs[0] + 1 - len(rseqs)) if rseqs and rseqs[-1] - rseqs[0] < 0x8000 else 0
            rtx_gaps += rtx_holes
            seconds = max(1, end_us // 1_000_000)
            per_s = [0] * seconds
            for t in (st.decoded_us if st else ()):
                if t < seconds * 1_000_000:
                    per_s[t // 1_000_000] += 1
            rows.append({"meeting": f"m{meeting + 1}", "receiver": r.name, "sender": s.name, "fps_per_s": per_s,
                         "trace": plan.trace_of(ri), "fps": round(f, 2), "max_freeze_ms": round(mf, 1),
                         "frame_delay_ms_p50": round(_pct(window, 0.5), 2) if st else None,
                         "seq_gaps": holes, "nacks": st.nacks_sent if st else 0,
                         "recovered": st.recovered if st else 0,
                         "rtx_packets": len(rseqs), "rtx_seq_gaps": rtx_holes,
                         "decode_errors": st.decode_errors if st else 0})
    lat = [x / 1e6 for x in fwd_ns]
    return {
        "fps_p50": round(statistics.median(fps), 2) if fps else 0.0,
        "freeze_ratio": round(statistics.mean(freeze), 4) if freeze else 1.0,
        "frame_delay_ms_p50": round(_pct(delays, 0.5), 2),
        "frame_delay_ms_p95": round(_pct(delays, 0.95), 2),
        "frame_delay_ms_p95_with_warmup": round(_pct(all_delays, 0.95), 2),     # the start-up's queues too
        "forward_latency_ms_p50": round(_pct(lat, 0.5), 4),
        "forward_latency_ms_p99": round(_pct(lat, 0.99), 4),
        "forward_latency_ms_mean": round(statistics.mean(lat), 4) if lat else float("nan"),
        "cpu_packets_fraction": round(cpu_in[0] / max(1, sfu_in[0]), 5),
        "cpu_bytes_fraction": round(cpu_in[1] / max(1, sfu_in[1]), 5),
        "cpu_packets_by_kind": dict(ctl.handled),
        "seq_gaps": gaps,
        "rtx_seq_gaps": rtx_gaps,       # holes in a receiver's numbering of an RTX stream
        "rtx_restored": sum(getattr(p, "rtx_restored", 0) for p in parts),    # RTX packets receivers unwrapped
        "sfu_packets_in": sfu_in[0],
        "sfu_bytes_in": sfu_in[1],
        **({"sfu_packets_out": sfu_out[0], "sfu_bytes_out": sfu_out[1]} if sfu_out else {}),
        "layer_changes": [{"t_s": round(t / 1e6, 3), "receiver": who, "from": a, "to": b}
                          for t, who, a, b in ctl.layer_changes],
        "bad_input": dict(ctl.bad),
        "estimates_by_source": _by_source(getattr(ctl, "estimates", [])),
        "receivers": rows,
    }

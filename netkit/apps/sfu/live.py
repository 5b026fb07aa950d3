"""Meetings live: the star of `MeetingPlan.topology()` as network namespaces and trace-driven TUN links (the emu
harness's `LiveNetwork`), participants as `MediaParticipant`s on real UDP sockets in their hosts' namespaces,
the SFU in the centre namespace.

* `scallop`: `netkit p4 serve --target software` in its own process, its switch ports on the centre ends
  of the star's links (TUN devices, L3 ports of the software target), programmed by the control core in
  this process over P4Runtime (gRPC on a unix socket); STUN, RTCP and unknown traffic arrive as
  packet-ins on the stream channel, the controller's answers leave by packet-out. The centre does not
  forward IP, so the kernel drops its copy of what the switch takes.
* `software`: `python -m netkit.apps.sfu.livesoft` in the centre namespace: one UDP socket, every
  packet through user space.

The SFU's address is `SFU_IP` (no interface of the scallop centre owns it; the software SFU puts it on
the centre's loopback). Forwarding latency is measured in the centre by one AF_PACKET tap with kernel
receive timestamps: from an RTP packet arriving on a participant's link to each rewritten copy leaving
on another's (the same for both SFUs). Everything is torn down on return, exception or signal (netkit's
cleanup registry, `netkit clean` after a SIGKILL).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from types import SimpleNamespace

from netkit.apps.sfu.liveparts import restore_stream
from netkit.apps.sfu.procgroup import ProcessGroup
from netkit.apps.sfu.tap import PACKET_OUTGOING, PacketTap
from netkit.apps.sfu.sim import CLIENT_PORT, P4INFO, SFUS, MeetingPlan, _summary, join_message, rtx_ssrc

SFU_IP, SFU_PORT = "10.99.0.1", 5004
LEAD_US = 500_000           # the meetings start this long after every link is up
BAD_JOIN = {"type": "join", "meeting": "no-such-meeting", "participant": "x", "ip": "10.0.0.1", "port": 1,
            "mac": 1, "switch_port": 1, "ssrc": 0x7777}


class ForwardingTap(PacketTap):
    """Kernel-timestamped tap on every interface of the centre: RTP in from participants, copies out."""

    def __init__(self, ns: str, frames: bool = False):
        super().__init__(ns, "sfu-tap")
        self.latency_ns: list[int] = []
        self._arrived: dict[tuple, int] = {}
        self._last_prune = 0
        # with `frames`, each frame's last packet (RTP marker) in and its copies out (CLOCK_MONOTONIC ns)
        self.frames_in: dict[tuple[int, int], int] | None = {} if frames else None
        self.frames_out: dict[tuple[str, int, int], int] | None = {} if frames else None
        self.reports_in: list[tuple[str, int]] | None = [] if frames else None     # (source, RR compound in)
        self._to_monotonic = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
        self.start()

    def on_packet(self, data: bytes, addr: tuple, t: int) -> None:
        """Keep first-pass forwarding latencies (and, with `frames`, frame and report times)."""
        arrived = self._arrived
        if len(data) < 40 or data[9] != 17:
            return
        ihl = (data[0] & 0xF) * 4
        sport, dport = struct.unpack_from("!HH", data, ihl)
        rtp = data[ihl + 8:]
        if (self.reports_in is not None and len(rtp) >= 8 and rtp[1] == 201 and dport == SFU_PORT
                and addr[2] != PACKET_OUTGOING):
            self.reports_in.append((socket.inet_ntoa(data[12:16]), t - self._to_monotonic))
        if len(rtp) < 12 or rtp[0] >> 6 != 2 or 192 <= rtp[1] <= 223:
            return
        key = (rtp[4:12], data[2:4], rtp[12:])     # timestamp + SSRC, IP length, descriptor + first VP8 bytes
        if self.frames_in is not None and self.frames_out is not None and rtp[1] & 0x80:
            ts, ssrc = struct.unpack_from("!II", rtp, 4)
            at = t - self._to_monotonic
            if addr[2] != PACKET_OUTGOING and dport == SFU_PORT:
                self.frames_in.setdefault((ssrc, ts), at)
            elif addr[2] == PACKET_OUTGOING and sport == SFU_PORT:
                self.frames_out.setdefault((socket.inet_ntoa(data[16:20]), ssrc, ts), at)
        if addr[2] != PACKET_OUTGOING and dport == SFU_PORT:
            if key in arrived:
                arrived[key] = -1                 # a retransmission: its copies are not first-pass forwarding
            else:
                arrived[key] = t
        elif addr[2] == PACKET_OUTGOING and sport == SFU_PORT:
            t_in = arrived.get(key)
            if t_in is not None and t_in > 0:
                self.latency_ns.append(t - t_in)
        if t - self._last_prune > 2_000_000_000:
            cut = t - 2_000_000_000
            for k in [k for k, v in arrived.items() if 0 < v < cut]:
                del arrived[k]
            self._last_prune = t

    def close(self) -> list[int]:
        """Stop; the per-copy latencies (ns)."""
        self.stop()
        return self.latency_ns


class _ControlView:
    """What `_summary` reads of a control core, from the software SFU process's counters."""

    def __init__(self, stats: dict):
        self.handled = stats.get("handled", {})
        self.bad = stats.get("bad", {})
        self.layer_changes = [tuple(c) for c in stats.get("layer_changes", [])]
        self.estimates = [tuple(e) for e in stats.get("estimates", [])]


def run_meetings_live(plan: MeetingPlan, sfu: str, log_dir: str | None = None, realtime: bool = True,
                      bad_input: bool = False, probe: bool = False, kernel_time: bool = True) -> dict:
    """Run the plan live through one SFU; return its summary (the shape `run_meetings` returns).

    Participants run in one process per meeting (`netkit.apps.sfu.liveparts`). With `bad_input`,
    participant 1's host also sends malformed RTP, RTCP and STUN and RTP of an unknown SSRC halfway
    through, and the SFU gets a join naming an unknown meeting (counted in `bad_input`). With `probe`, the
    summary's `probe` holds each frame's times (`netkit.apps.sfu.breakdown`). Receivers time an arrival by the
    kernel's receive timestamp (`kernel_time`, as the simulator times a delivery) unless it is false.
    """
    from netkit.emu.driver import run
    from netkit.emu.harness import LiveNetwork

    net = LiveNetwork(plan.topology(), plan.seed, log_dir, "netkit sfu bench --mode emu", realtime=realtime,
                      first_us=0, lead_us=LEAD_US, hold_clock=True)
    meetings = LiveMeetingRun(plan, sfu, realtime, bad_input, probe, kernel_time)
    with net:
        meetings.start(net)
        net.start_clock()      # all set up: the meetings start at the same point of the traces as simulated

        async def main() -> None:
            meetings.go()
            end = net.clock.to_loop_time(meetings.end_us)
            await asyncio.sleep(max(0.0, end - asyncio.get_running_loop().time()))

        try:
            run(main(), realtime=realtime)
        except BaseException:
            meetings.stop(collect=False)
            raise
        meetings.stop()
    return meetings.summary()


class LiveMeetingRun:
    """The meetings of a plan on a `LiveNetwork` of its star (hosts h1..hN, the SFU in the centre namespace).

    Call `start(net)` inside the network (before its clock starts; the network must hold its clock),
    `go()` on the running asyncio loop once the clock runs, `stop()` when the run ends, and
    `summary()` once the network is closed (its link statistics explain losses).
    """

    def __init__(self, plan: MeetingPlan, sfu: str, realtime: bool = True, bad_input: bool = False,
                 probe: bool = False, kernel_time: bool = True):
        if sfu not in SFUS:
            raise ValueError(f"unknown sfu {sfu!r}; expected one of {', '.join(SFUS)}")
        self.plan, self.sfu, self.realtime, self.bad_input = plan, sfu, realtime, bad_input
        self.probe, self.kernel_time = probe, kernel_time
        n = plan.participants * plan.meetings
        self.names = [f"m{i // plan.participants + 1}p{i % plan.participants + 1}" for i in range(n)]
        self.ssrcs = [0x1000 + i + 1 for i in range(n)]
        self.end_us = int(plan.duration_s * 1e6)
        self.net = None
        self._tmp = None
        self._sfu = self._groups = self._tap = None
        self._collected = None

    def start(self, net) -> None:
        """Start the SFU and the participant processes in `net` (cleaned up by `stop`, or on failure)."""
        from netkit.emu import netns

        plan, n = self.plan, len(self.names)
        topo = net.topology
        if topo.kind != "star" or topo.hosts != n:
            raise ValueError(f"the sfu needs a star of participants x meetings = {n} hosts, "
                             f"got {topo.kind} with {topo.hosts}")
        self.net = net
        self._tmp = tempfile.TemporaryDirectory(prefix="nk-sfu-")
        tmp = self._tmp.name
        center = net.namespaces["center"]
        self.hosts = hosts = [net.address(f"h{i + 1}", "center") for i in range(n)]     # (namespace, address)
        signals = [{"type": "create", "meeting": f"m{m + 1}"} for m in range(plan.meetings)]
        signals += [join_message(plan, i, self.names[i], hosts[i][1], self.ssrcs[i]) for i in range(n)]
        if self.bad_input and self.sfu == "software":
            signals.append(BAD_JOIN)      # its signalling is applied at start (no channel during the run)
        try:
            netns.write_sysctl(center, "net.ipv4.ip_forward", "0")
            self._sfu = (_ScallopSfu if self.sfu == "scallop" else _SoftwareSfu)(net, center, tmp, signals,
                                                                                 self.realtime)
            self._groups = _participants(plan, tmp, self.names, self.ssrcs, hosts, self.end_us, self.realtime,
                                         self.probe, self.kernel_time)
            self._sfu.start()
            self._groups.start()
            self._tap = ForwardingTap(center, self.probe)
        except BaseException:
            self._cleanup()
            raise

    def go(self) -> None:
        """On the running loop, once the network's clock runs: release the participants, take packet-ins."""
        loop = asyncio.get_running_loop()
        self._sfu.attach(loop)
        self._groups.go(self.net.epoch_ns)
        if self.bad_input:
            loop.call_at(self.net.clock.to_loop_time(self.end_us // 2), _send_bad_input, self.hosts[0], self._sfu)

    def stop(self, collect: bool = True) -> None:
        """Collect what the participants and the SFU measured (unless the run failed), and stop everything
        this run started."""
        try:
            if collect and self._groups is not None and self._collected is None:
                results = [r for meeting in self._groups.finish() for r in meeting]
                fwd_ns = self._tap.close()
                self._frames_at_sfu = (self._tap.frames_in, self._tap.frames_out)
                self._reports_in = self._tap.reports_in or []
                self._tap = None
                ctl, sfu_in, cpu_in = self._sfu.finish()
                self._collected = (results, fwd_ns, ctl, sfu_in, cpu_in)
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._tap is not None:
            self._tap.close()
            self._tap = None
        for part in (self._groups, self._sfu):
            if part is not None:
                part.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def summary(self) -> dict:
        """The SFU's summary (after `stop`; link drops are read from the network's statistics)."""
        if self._collected is None:
            raise RuntimeError("the live meetings have not run")
        results, fwd_ns, ctl, sfu_in, cpu_in = self._collected
        parts = [SimpleNamespace(name=r["name"], ssrc=r["ssrc"], rtx_ssrc=r.get("rtx_ssrc"),
                                 remote={int(k): restore_stream(int(k), v) for k, v in r["remote"].items()})
                 for r in results]
        received = {(i, int(k)): set(v["seqs"]) for i, r in enumerate(results) for k, v in r["remote"].items()}
        received.update({(i, int(k)): set(v) for i, r in enumerate(results) for k, v in r.get("rtx_seqs", {}).items()})
        summary = _summary(self.plan, self.sfu, parts, ctl, fwd_ns, received, sfu_in, cpu_in, self.end_us)
        _live_gaps(summary, self.net, self.names)
        summary["mode"] = "emu"
        summary["forward_latency_note"] = "per copy, centre ingress to egress, kernel timestamps (AF_PACKET tap)"
        summary["forward_latency_us_samples"] = [round(x / 1000, 1) for x in fwd_ns[:: max(1, len(fwd_ns) // 4000)]]
        summary["retransmitted"] = sum(r["retransmitted"] for r in results)
        summary["rtx_restored"] = sum(r.get("rtx_restored", 0) for r in results)
        summary["namespaces"] = sorted(self.net.namespaces.values())     # gone once the network closed
        if self.probe:
            ips = {h[1]: i for i, h in enumerate(self.hosts)}
            f_in, f_out = self._frames_at_sfu
            us = lambda ns: (ns - self.net.epoch_ns) // 1000      # noqa: E731 (monotonic ns -> clock us)
            summary["probe"] = {
                "sent": {r["ssrc"]: r["probe"]["sent"] for r in results},
                "sfu_in": [[ssrc, ts, us(t)] for (ssrc, ts), t in (f_in or {}).items()],
                "sfu_out": [[ips[ip], ssrc, ts, us(t)] for (ip, ssrc, ts), t in (f_out or {}).items() if ip in ips],
                "frames": {i: {int(k): v for k, v in r["probe"]["frames"].items()} for i, r in enumerate(results)},
                "loop_lateness_us": [x for r in results for x in r["probe"]["loop_lateness_us"]],
                "control_reaction_us": _reactions(self._reports_in, getattr(self._sfu, "reports_done", []), us)}
        return summary


def _participants(plan: MeetingPlan, tmp: str, names, ssrcs, hosts, end_us: int, realtime: bool,
                  probe: bool = False, kernel_time: bool = True) -> ProcessGroup:
    """One `netkit.apps.sfu.liveparts` process per meeting, started, released together, and collected."""
    specs = []
    for m in range(plan.meetings):
        idx = range(m * plan.participants, (m + 1) * plan.participants)
        specs.append({"participants": [{"name": names[i], "ssrc": ssrcs[i], "start_us": 1000 * (i % 33),
                                        "twcc": i in plan.twcc, "tw_send": bool(plan.twcc),
                                        "rtx_ssrc": rtx_ssrc(plan, ssrcs[i]),
                                        "netns": hosts[i][0], "addr": hosts[i][1], "port": CLIENT_PORT}
                                       for i in idx],
                      "sfu": [SFU_IP, SFU_PORT], "end_us": end_us, "decode": plan.decode,
                      "estimator": plan.estimator, "probe": probe, "kernel_time": kernel_time,
                      "rtx_of": {str(rtx_ssrc(plan, s)): s for s in ssrcs} if plan.rtx else {},
                      "realtime": realtime})
    return ProcessGroup("netkit.apps.sfu.liveparts", specs, tmp, "sfu participant", "parts")


def _live_gaps(summary: dict, net, names: list[str]) -> None:
    """Live, gaps are counted at the receiver (after NACK/RTX): holes not explained by drops on its own downlink."""
    def drops(i: int, direction: str) -> int:
        d = ((net.stats.get(f"h{i + 1}") or {}).get(direction) or {})
        return sum((d.get("drops_by_flow") or {}).values())

    total = 0
    up = {name: drops(i, "uplink") for i, name in enumerate(names)}
    for i, name in enumerate(names):
        rows = [r for r in summary["receivers"] if r["receiver"] == name]
        for r in rows:
            r["downlink_drops"] = drops(i, "downlink")
            r["sender_uplink_drops"] = up[r["sender"]]
        total += max(0, sum(r["seq_gaps"] for r in rows) - drops(i, "downlink"))
    summary["seq_holes_at_receivers"] = sum(r["seq_gaps"] for r in summary["receivers"])
    summary["seq_gaps"] = total


def _reactions(arrivals: list[tuple[str, int]], done: list[tuple[str, int]], us) -> list[int]:
    """Per RR compound the P4 SFU's controller handled: from its arrival at the centre (tap, monotonic ns) to the
    control core being done with it (clock us; packet-in over gRPC, parsing, any table write): us each."""
    by_src: dict[str, list[int]] = {}
    for src, t in arrivals:
        by_src.setdefault(src, []).append(us(t))
    out = []
    for src, t_done in done:
        ts = by_src.get(src, [])
        before = [t for t in ts if t <= t_done]
        if before:
            out.append(t_done - before[-1])
    return out


def _send_bad_input(host: tuple[str, str], sfu_proc) -> None:
    from netkit.emu.driver import udp_socket

    sock = udp_socket(host[0], host[1], 0)
    try:
        for payload in (b"\x80\x60\x00",                                  # truncated RTP
                        b"\x80\xc9\x00\x07" + bytes(6),                     # RTCP RR claiming 8 words, 10 bytes
                        b"\x00\x01\x00\x08\x21\x12\xa4\x42" + bytes(8),     # STUN header cut short
                        b"\x80\x60\x00\x01" + bytes(4) + b"\xde\xad\xbe\xef" + bytes(20)):   # unknown SSRC
            sock.sendto(payload, (SFU_IP, SFU_PORT))
    finally:
        sock.close()
    if sfu_proc.signal is not None:
        sfu_proc.signal(BAD_JOIN)


def _realtime_threads(on: bool):
    """Real-time scheduling for the threads the block starts (gRPC's, the packet-in reader): the controller
    must not wait behind the real-time participants, switch and links for the CPU."""
    from netkit.emu.driver import realtime_thread

    return realtime_thread(on)


class _ScallopSfu:
    """`netkit p4 serve --target software` on the centre's link ends, and the control core on P4Runtime."""

    def __init__(self, net, center: str, tmp: str, signals: list[dict], realtime: bool):
        self.net, self.center, self.tmp, self.signals, self.realtime = net, center, tmp, signals, realtime
        self.n = sum(1 for s in signals if s["type"] == "join")
        self.proc = None
        self.client = None
        self.ctl = None
        self.cpu_in = [0, 0]
        self.reports_done: list[tuple[str, int]] = []    # (source, when the core was done with its RR compound)
        self._stop = threading.Event()
        self._reader = None

    def start(self) -> None:
        with _realtime_threads(self.realtime):
            self._start()

    def _start(self) -> None:
        from netkit.apps.sfu.control import SfuControl
        from netkit.apps.sfu.p4backend import P4Backend
        from netkit.emu import netns
        from netkit.p4.client import P4RuntimeClient
        from netkit.p4.process import SwitchProcess

        addr = f"unix:{self.tmp}/p4rt.sock"
        ports = [a for i in range(self.n) for a in
                 ("--port", f"{i + 1}@{self.center}:{self.net.links[f'h{i + 1}'].outer_dev}")]
        args = [sys.executable, "-m", "netkit.cli", "p4", "serve", "--target", "software", "--grpc", addr, *ports]
        if not self.realtime:
            args.append("--no-realtime")
        self.proc = SwitchProcess(args, None, Path(self.tmp) / "switch.log")
        self.proc.wait_ready(addr)
        self.client = P4RuntimeClient(addr, p4info=P4INFO)
        self.client.set_pipeline(P4INFO)
        self.ctl = SfuControl(P4Backend(self.client, SFU_IP, SFU_PORT), SFU_IP, SFU_PORT)
        for msg in self.signals:
            r = self.ctl.signal(msg)
            if not r["ok"]:
                raise ValueError(f"signalling {msg['type']} refused: {r['error']}")

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver packet-ins to the control core on `loop` (a thread waits on the client's queue)."""
        import queue

        clock = self.net.clock

        def handle(frame: bytes) -> None:
            from netkit.apps.sfu.wire import parse_udp_ipv4

            self.cpu_in[0] += 1
            self.cpu_in[1] += len(frame) - 14
            d = parse_udp_ipv4(frame[14:])
            if d is not None:
                self.ctl.packet((d.src, d.sport), d.payload, clock.now())
                if len(d.payload) >= 2 and d.payload[1] == 201:
                    self.reports_done.append((d.src, clock.now()))

        def read() -> None:
            while not self._stop.is_set():
                try:
                    pkt = self.client.packets.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    loop.call_soon_threadsafe(handle, pkt.payload)
                except RuntimeError:
                    return      # the run is over (its loop is closed)
        self._reader = threading.Thread(target=read, daemon=True, name="sfu-packet-in")
        self._reader.start()

    def signal(self, msg: dict) -> dict:
        """A signalling message during the run."""
        return self.ctl.signal(msg)

    def finish(self):
        """Stop taking packet-ins; (control core, SFU input packets/bytes, control-plane packets/bytes)."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2)
        pk = by = 0
        for i in range(self.n):
            p, b = self.client.read_counter("SfuIngress.port_rx", i + 1)
            pk, by = pk + p, by + b - 14 * p          # IP bytes (the ports add a 14-byte Ethernet header)
        return self.ctl, [pk, by], self.cpu_in

    def close(self) -> None:
        self._stop.set()
        if self.client is not None:
            self.client.close()
        if self.proc is not None:
            self.proc.stop()


class _SoftwareSfu:
    """`python -m netkit.apps.sfu.livesoft` in the centre namespace, fed the same signalling messages."""

    def __init__(self, net, center: str, tmp: str, signals: list[dict], realtime: bool):
        self.net, self.center, self.tmp, self.signals, self.realtime = net, center, tmp, signals, realtime
        self.proc = None
        self.stats_path = Path(tmp) / "software_stats.json"
        self.signal = None          # no signalling channel during the run: messages are applied at start

    def start(self) -> None:
        from pyroute2 import IPRoute

        from netkit.emu import netns
        from netkit.emu.resources import registry

        with netns.enter(self.center), IPRoute() as ipr:
            ipr.addr("add", index=ipr.link_lookup(ifname="lo")[0], address=SFU_IP, prefixlen=32)
        sig = Path(self.tmp) / "signals.json"
        sig.write_text(json.dumps(self.signals))
        args = [sys.executable, "-m", "netkit.apps.sfu.livesoft", "--netns", self.center, "--addr", SFU_IP,
                "--port", str(SFU_PORT), "--signals", str(sig), "--stats", str(self.stats_path)]
        if not self.realtime:
            args.append("--no-realtime")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self._token = registry().add(f"software SFU (pid {self.proc.pid})", self._kill)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise OSError(f"the software SFU did not start (exit {self.proc.poll()})")
        for r in json.loads(line.split(" ", 1)[1]):
            if not r["ok"] and r["error"] != f"unknown meeting {BAD_JOIN['meeting']!r}":
                raise ValueError(f"signalling refused: {r['error']}")

    def attach(self, loop) -> None:
        """Tell the process the links' clock (it serves on its own)."""
        self.proc.stdin.write(f"epoch {self.net.epoch_ns}\n")
        self.proc.stdin.flush()

    def finish(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stats = json.loads(self.stats_path.read_text())
        return _ControlView(stats), [stats["packets_in"], stats["bytes_in"]], [stats["packets_in"], stats["bytes_in"]]

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        from netkit.emu.resources import registry

        if getattr(self, "_token", None) is not None:
            registry().release(self._token)
            self._token = None

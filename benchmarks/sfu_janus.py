"""Janus as the SFU baseline, live, side by side with the P4 SFU (scallop) and the software SFU on the same meetings:
the same star (namespaces, trace-driven links, participant 3 of each meeting behind 1 Mbit/s by default), one
after the other in one run.

Prints per SFU: received fps (median, mean, the constrained receivers' mean), longest freeze of a constrained
receiver, frame delay p50/p95, forwarding latency per copy p50/p99 (centre ingress to egress, kernel
timestamps), CPU seconds of the SFU process during the meetings, sequence gaps; then Janus against the
software SFU as ratios. The clients differ: scallop and software run the project's plain-RTP VP8 clients
(three temporal layers, decoded with libvpx), Janus needs WebRTC, so its participants are aiortc peers
(ICE, DTLS-SRTP, aiortc's own VP8 encoder and jitter buffer); frame delay includes each client stack, the
forwarding latency is the SFU hop alone. Needs root (live) and janus (Debian); prints why and exits 0 otherwise.

    .venv/bin/python benchmarks/sfu_janus.py [--participants 3] [--meetings 2] [--duration 8] [--out results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SFU_PROCESSES = {"scallop": ("netkit.cli", "p4", "serve"), "software": ("netkit.apps.sfu.livesoft",),
                 "janus": ("janus", "-C")}


def _descends_from(ppid: int, ancestor: int) -> bool:
    """Whether a process whose parent is `ppid` descends from `ancestor`."""
    for _ in range(16):
        if ppid == ancestor:
            return True
        if ppid <= 1:
            return False
        try:
            ppid = int(Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


class ProcessCpu:
    """Polls /proc for the SFU's process (by its command line) and keeps the CPU time last seen of each match:
    the switch process for scallop (its controller runs inside this process and is not counted), the
    software SFU's process, janus. `mark()` (called when the links' clock starts) sets the baseline, so
    start-up (imports, configuration) is left out and only the meetings count."""

    def __init__(self, words: tuple[str, ...]):
        self.words = words
        self.cpu: dict[int, float] = {}
        self.base: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
                if not all(any(w == a or a.endswith("/" + w) for a in args) for w in self.words):
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                if not _descends_from(int(fields[1]), os.getpid()):
                    continue            # someone else's switch or SFU on this shared machine
            except OSError:
                continue
            with self._lock:
                self.cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / self._tick

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(0.1)

    def mark(self) -> None:
        """The meetings start now."""
        self._poll()
        with self._lock:
            self.base = dict(self.cpu)

    def close(self) -> float:
        """Stop; CPU seconds of the matching processes since `mark()` (up to the last poll before they ended)."""
        self._stop.set()
        self._thread.join(timeout=2)
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.cpu.items())


def main() -> int:
    from netkit.emu.testing import skip_reason

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=3)
    ap.add_argument("--meetings", type=int, default=2)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--constrained", type=int, default=3, help="which participant of each meeting is behind "
                                                                 "1 Mbit/s (1-based; 0: none)")
    ap.add_argument("--out", help="write every number as JSON to this file")
    args = ap.parse_args()
    why = skip_reason()
    if why is None:
        from netkit.apps.sfu.janus_server import JanusMissing, janus_binary

        try:
            janus_binary()
        except JanusMissing as exc:
            why = str(exc)
    if why:
        print(f"sfu_janus: skipped: {why}")
        return 0
    from netkit.apps.sfu.janus import run_meetings_janus
    from netkit.apps.sfu.live import run_meetings_live
    from netkit.apps.sfu.sim import MeetingPlan

    traces = tuple("constant:1" if i + 1 == args.constrained else "constant:10" for i in range(args.participants))
    plan = MeetingPlan(participants=args.participants, meetings=args.meetings, traces=traces,
                       duration_s=args.duration)
    print(f"{args.meetings} meetings x {args.participants} participants, {args.duration:g} s live, participant "
          f"{args.constrained} of each behind 1 Mbit/s, the others 10 Mbit/s; load average {os.getloadavg()[0]:.1f}")
    from netkit.emu.harness import LiveNetwork

    res, cpu = {}, {}
    start_clock = LiveNetwork.start_clock
    for name in ("scallop", "software", "janus"):
        watch = ProcessCpu(SFU_PROCESSES[name])

        def start_and_mark(net, _watch=watch) -> None:
            _watch.mark()                 # the SFU's CPU counts from the moment the meetings start
            start_clock(net)
        t0 = time.monotonic()
        try:
            with mock.patch.object(LiveNetwork, "start_clock", start_and_mark):
                res[name] = run_meetings_janus(plan) if name == "janus" else run_meetings_live(plan, name)
        finally:
            cpu[name] = watch.close()
        print(f"  {name}: {time.monotonic() - t0:.1f} s wall", flush=True)
    constrained = {f"m{m + 1}p{args.constrained}" for m in range(args.meetings)} if args.constrained else set()
    table = {}
    for name, s in res.items():
        rows = s["receivers"]
        slow = [r for r in rows if r["receiver"] in constrained]
        rest = [r for r in rows if r["receiver"] not in constrained]
        table[name] = {
            "fps_p50": s["fps_p50"], "fps_mean": statistics.mean(r["fps"] for r in rows),
            "fps_unconstrained_min": min((r["fps"] for r in rest), default=float("nan")),
            "fps_constrained_mean": statistics.mean(r["fps"] for r in slow) if slow else float("nan"),
            "max_freeze_constrained_ms": max((r["max_freeze_ms"] for r in slow), default=float("nan")),
            "freeze_ratio": s["freeze_ratio"],
            "frame_delay_ms_p50": s["frame_delay_ms_p50"], "frame_delay_ms_p95": s["frame_delay_ms_p95"],
            "forward_latency_us_p50": s["forward_latency_ms_p50"] * 1000,
            "forward_latency_us_p99": s["forward_latency_ms_p99"] * 1000,
            "sfu_cpu_s": cpu[name], "sfu_packets_in": s["sfu_packets_in"],
            "cpu_us_per_packet_in": cpu[name] * 1e6 / max(1, s["sfu_packets_in"]),
            "cpu_packets_fraction": s["cpu_packets_fraction"], "seq_gaps": s["seq_gaps"],
            "layer_changes": len(s["layer_changes"])}
    cols = [("fps p50", "fps_p50", "7.2f"), ("fps mean", "fps_mean", "8.2f"),
            ("fps 10M min", "fps_unconstrained_min", "11.2f"), ("fps 1M", "fps_constrained_mean", "6.2f"),
            ("freeze 1M ms", "max_freeze_constrained_ms", "12.0f"), ("delay p50", "frame_delay_ms_p50", "9.1f"),
            ("delay p95", "frame_delay_ms_p95", "9.1f"), ("fwd p50 us", "forward_latency_us_p50", "10.1f"),
            ("fwd p99 us", "forward_latency_us_p99", "10.1f"), ("SFU cpu s", "sfu_cpu_s", "9.2f"),
            ("cpu us/pkt", "cpu_us_per_packet_in", "10.1f"), ("gaps", "seq_gaps", "4d")]
    print(f"{'sfu':9s} " + " ".join(f"{c:>{len(c)}s}" for c, _k, _f in cols))
    for name, row in table.items():
        print(f"{name:9s} " + " ".join(format(row[k], f) if row[k] == row[k] else f"{'-':>{len(c)}s}"
                                       for c, k, f in cols))
    j, sw = table["janus"], table["software"]
    ratios = {k: (j[k] / sw[k] if sw[k] else float("nan")) for k in
              ("forward_latency_us_p50", "forward_latency_us_p99", "cpu_us_per_packet_in", "fps_constrained_mean",
               "frame_delay_ms_p50")}
    print("janus / software: " + ", ".join(f"{k} x{v:.2f}" for k, v in ratios.items()))
    if constrained:
        print(f"janus constrained receivers: layer changes {j['layer_changes']} (no temporal layers; subscriber REMB "
              f"ignored), NACKs {sum(res['janus']['nacks_by_receiver'][r] for r in constrained)}, "
              f"fps {j['fps_constrained_mean']:.1f} against scallop's {table['scallop']['fps_constrained_mean']:.1f}")
    if args.out:
        out = {"plan": {"participants": plan.participants, "meetings": plan.meetings, "traces": list(plan.traces),
                        "duration_s": plan.duration_s}, "table": table, "ratios_janus_over_software": ratios,
               "summaries": {k: {kk: vv for kk, vv in v.items() if kk != "forward_latency_us_samples"}
                             for k, v in res.items()}}
        from netkit.files import atomic_write_text

        atomic_write_text(args.out, json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

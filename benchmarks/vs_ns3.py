"""netkit against ns-3 3.37 on the same scenarios, side by side: wall time, packets per wall second, memory.

    .venv/bin/python benchmarks/vs_ns3.py [--scale 1.0] [--repeat 1] [--only 1 2 3]

Scenarios (issue 14), each a Cubic bulk transfer over a 20 ms one-way path:
  1. 12 Mbit/s, droptail 40 packets, 300 s;
  2. 12 Mbit/s, unbounded queue, 120 s;
  3. 100 flows through a 1 Gbit/s bottleneck, droptail of one BDP (3333 packets of 1500 bytes
     at 40 ms RTT), 30 s.
`--scale` multiplies every duration (for a quick look); the figures quoted in docs/core.md use 1.

How the two are made to match. netkit: `Chain([Delay 20 ms, TraceLink(constant trace, queue)])`
forward, `Chain([Delay 20 ms])` back, `StreamSender("cubic", bulk=True)`; every data packet is a
1500-byte IP packet that costs 1504 bytes of the trace's opportunities (Mahimahi's 4-byte TUN
header), so R Mbit/s of trace carries R/(1504*8) packets per µs. ns-3 (benchmarks/ns3/bulk_cubic.cc,
built here against Debian's libns3-dev with pkg-config): one point-to-point link between two
nodes, BulkSend + PacketSink per flow, TcpCubic with HyStart off (netkit's Cubic has none), segment
size 1448 so IP packets are 1500 bytes (20 IP + 32 TCP with timestamps), the forward DataRate set
to R * 1502/1504 so a 1500-byte packet plus 2 bytes of PPP framing takes exactly as long as in
netkit, the reverse direction at 100 Gbit/s (ACKs see only the delay, as on netkit's delay-only
feedback path), no queue disc (the device's DropTail queue is the buffer, the packet on the wire
not counted, as in netkit), initial window 10 segments, a 1 GiB receive buffer (the receive window never limits) and a send
buffer above the largest window each scenario reaches (2 MiB per flow; 1 GiB with the unbounded
queue, where the window grows all run long). ns-3's ACKs are 52 bytes, netkit's 70; neither crosses a rate limit.

Each run is its own process; wall time is the process's (start-up, set-up and simulation: what a
user waits), CPU time and peak memory (maximum resident set) come from getrusage. "pkts/wall s" is
data packets delivered to the receivers per wall second. The ratios are ns-3's wall (and CPU) time
over netkit's, in the same sitting, runs alternating; with --repeat N each side's fastest of N is
used. On a shared machine the CPU ratio is the steadier of the two. A run still going after --limit
wall seconds is stopped and its time reported as a lower bound (">="). ns-3 is skipped with one line
when it is not installed (`make bench` installs it when root); netkit's figures are still printed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NS3_SOURCE = ROOT / "benchmarks" / "ns3" / "bulk_cubic.cc"
NS3_BUILD = ROOT / "build" / "ns3"
NS3_MODULES = ["ns3-point-to-point", "ns3-internet", "ns3-applications", "ns3-traffic-control"]
BDP_PACKETS_1G = 3333  # 1 Gbit/s * 40 ms / (1500 * 8)

# name -> (label, Mbit/s, netkit queue spec, ns-3 queue packets (0: unbounded), flows, seconds,
#          ns-3 send buffer per flow: above the largest window the scenario reaches)
SCENARIOS = {
    "1": ("12 Mbit/s, droptail 40p, 300 s", 12.0, "droptail:packets=40", 40, 1, 300.0, 2 << 20),
    "2": ("12 Mbit/s, unbounded queue, 120 s", 12.0, None, 0, 1, 120.0, 1 << 30),
    "3": ("100 flows, 1 Gbit/s, droptail 1 BDP, 30 s", 1000.0, f"droptail:packets={BDP_PACKETS_1G}",
          BDP_PACKETS_1G, 100, 30.0, 2 << 20),
}


def netkit_run(mbps: float, queue: str | None, flows: int, seconds: float) -> dict:
    """Run one scenario in this process; returns the simulation's own wall time and delivered packets."""
    sys.path.insert(0, str(ROOT))
    from netkit import fastpath
    from netkit.link import Chain, Delay, TraceLink
    from netkit.sim.engine import Simulator
    from netkit.sim.topology import dumbbell
    from netkit.trace import synth
    from netkit.transport.stream import StreamReceiver, StreamSender

    sim = Simulator(0)
    fwd = Chain([Delay.ms(20), TraceLink(synth.constant(mbps, 10), queue)])
    rev = Chain([Delay.ms(20)])
    pairs = [(StreamSender("cubic", bulk=True), StreamReceiver(), "cubic") for _ in range(flows)]
    net = dumbbell(sim, fwd, rev, pairs)
    t0 = time.perf_counter()
    sim.run(int(seconds * 1e6))
    wall = time.perf_counter() - t0
    delivered = sum(f.record.received for f in net.flows)
    return {"run_wall_s": wall, "delivered_packets": delivered, "events": sim.events_run,
            "build": fastpath.describe()}


def build_ns3() -> tuple[Path | None, str]:
    """Compile the ns-3 program (cached by source hash); (binary or None, why not)."""
    if not shutil.which("pkg-config") or subprocess.call(
            ["pkg-config", "--exists", *NS3_MODULES], stderr=subprocess.DEVNULL) != 0:
        return None, ("ns-3 not installed (Debian libns3-dev and libgsl-dev; `make bench` installs them "
                      "as root): skipping ns-3, netkit's figures only")
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        return None, "no C++ compiler (g++): skipping ns-3, netkit's figures only"
    digest = hashlib.sha256(NS3_SOURCE.read_bytes()).hexdigest()[:12]
    binary = NS3_BUILD / f"bulk_cubic-{digest}"
    if binary.exists():
        return binary, ""
    flags = subprocess.check_output(["pkg-config", "--cflags", "--libs", *NS3_MODULES], text=True).split()
    flags = [f for f in flags if f not in ("-I/usr\\;", "-I/usr;")]  # a stray entry in Debian's .pc files
    NS3_BUILD.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".partial")
    proc = subprocess.run([cxx, "-O2", "-std=c++17", "-o", str(tmp), str(NS3_SOURCE), *flags],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"building {NS3_SOURCE.name} failed: {proc.stderr.strip().splitlines()[-1:]}"
    os.replace(tmp, binary)
    return binary, ""


def run_side(side: str, key: str, scale: float, ns3: Path | None, limit_s: float) -> dict:
    """One process for one side of one scenario."""
    _, mbps, queue, ns3_queue, flows, seconds, sndbuf = SCENARIOS[key]
    seconds *= scale
    if side == "netkit":
        cmd = [sys.executable, __file__, "--netkit-run", key, "--scale", str(scale)]
        # one thread: numpy's BLAS threads would otherwise spin and count as netkit's CPU time
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        return measure(cmd, limit_s, env=env)
    cmd = [str(ns3), f"--rate={mbps * 1e6:.0f}", "--delay=20", f"--queue={ns3_queue}", f"--flows={flows}",
           f"--seconds={seconds}", f"--sndbuf={sndbuf}"]
    return measure(cmd, limit_s)


def measure(cmd: list[str], limit_s: float, env: dict | None = None) -> dict:
    """Run one process: its last stdout line (key=value pairs or JSON), wall and CPU time, peak RSS.

    A process still running after `limit_s` wall seconds is killed and reported as timed out
    (its wall time is then a lower bound).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)  # prints one short line
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > limit_s:
            proc.kill()
            timed_out = True
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = "" if timed_out else proc.stdout.read()
    proc.stdout.close()
    wall = time.perf_counter() - t0
    res: dict = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}
    if timed_out:
        return {**res, "timed_out": True, "run_wall_s": float("nan"), "delivered_packets": float("nan")}
    if proc.returncode:
        raise RuntimeError(f"{cmd[0]} exited with status {proc.returncode}")
    line = out.strip().splitlines()[-1]
    parsed = json.loads(line) if line.startswith("{") else dict(kv.split("=", 1) for kv in line.split())
    for k, v in parsed.items():
        try:
            parsed[k] = float(v)
        except (TypeError, ValueError):
            pass
    return {**parsed, **res, "timed_out": False}


def main() -> int:
    """Run the scenarios on both simulators and print one row per scenario and side."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every scenario's duration")
    ap.add_argument("--repeat", type=int, default=1, help="runs per side; each side's best is used")
    ap.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="scenarios to run")
    ap.add_argument("--no-ns3", action="store_true", help="netkit only")
    ap.add_argument("--limit", type=float, default=900.0,
                    help="wall seconds after which a run is stopped and reported as a lower bound (default 900)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--netkit-run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale <= 0 or args.repeat < 1 or args.limit <= 0:
        ap.error("--scale and --limit must be > 0 and --repeat >= 1")
    if args.netkit_run:
        _, mbps, queue, _, flows, seconds, _ = SCENARIOS[args.netkit_run]
        print(json.dumps(netkit_run(mbps, queue, flows, seconds * args.scale)))
        return 0
    ns3, why = (None, "ns-3 skipped (--no-ns3)") if args.no_ns3 else build_ns3()
    if ns3 is None:
        print(why)
    rows = []
    print(f"{'scenario':44s} {'side':6s} {'wall s':>8s} {'cpu s':>8s} {'pkts/wall s':>11s} {'delivered':>10s} "
          f"{'peak MB':>8s} {'ns-3/netkit wall':>16s} {'cpu':>6s}", flush=True)
    for key in args.only or sorted(SCENARIOS):
        label = SCENARIOS[key][0] + (f" (x{args.scale:g})" if args.scale != 1 else "")
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for side in (["ns3"] if ns3 else []) + ["netkit"]:
                res = run_side(side, key, args.scale, ns3, args.limit)
                if side not in best or res["wall_s"] < best[side]["wall_s"]:
                    best[side] = res
        row = {"scenario": key, "label": label, **best}
        for side, res in best.items():
            pps = res["delivered_packets"] / res["wall_s"]
            tail = ""
            if side == "netkit" and "ns3" in best:
                bound = ">=" if best["ns3"]["timed_out"] else ""
                row["ratio_wall"] = best["ns3"]["wall_s"] / res["wall_s"]
                row["ratio_cpu"] = best["ns3"]["cpu_s"] / res["cpu_s"]
                tail = f"{bound + format(row['ratio_wall'], '.2f') + 'x':>16s} {bound + format(row['ratio_cpu'], '.2f') + 'x':>6s}"
            note = " (stopped at --limit)" if res["timed_out"] else ""
            print(f"{label:44s} {side:6s} {res['wall_s']:8.2f} {res['cpu_s']:8.2f} {pps:11,.0f} "
                  f"{res['delivered_packets']:10,.0f} {res['peak_rss_mb']:8.0f} {tail}{note}", flush=True)
        rows.append(row)
    builds = {r["netkit"].get("build") for r in rows if not r["netkit"]["timed_out"]}
    print(f"netkit build: {', '.join(sorted(b for b in builds if b))}")
    if args.json:
        from netkit.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

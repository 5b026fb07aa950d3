"""Dumbbell: N sender/receiver pairs share one trace-driven bottleneck (Mininet + LinuxBridge + netkit TraceLink).

    h1 ─┐                                   ┌─ r1
    h2 ─┼─ s1 ══ TraceLink(trace, delay, queue) ══ s2 ─┼─ r2
    hN ─┘                                   └─ rN

Every pair runs the same workload: `iperf3` (kernel TCP Cubic) or a netkit sans-I/O
workload (`bulk`, `cubic`, `reno`, `prague`, `cbr:MBPS`) over real UDP sockets in the
Mininet hosts. Prints per-flow throughput, their sum against the link's capacity
(from its Mahimahi log) and Jain's fairness index; `--json` prints the same as JSON.

    sudo .venv/bin/python emulation/lte_dumbbell.py [--flows 3] [--trace PATH] [--delay 20]
        [--queue droptail:packets=150] [--duration 20] [--workload iperf3] [--log-dir DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge

from netkit.emu.driver import run as run_precise
from netkit.emu.errors import require_root, require_tool
from netkit.emu.harness import HostMap, LiveFlow, run_flows
from netkit.experiment.replay import app_entry
from netkit.experiment.runner import app_flows
from netkit.emu.logstats import summarize_log
from netkit.emu.mininet import TraceLink, node_netns
from netkit.sim.metrics import summarize_flow
from netkit.trace.locate import find_trace

LTE = str(find_trace("TMobile-LTE-short.down") or "traces/randomwalk-6mbps-seed1.trace")


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if any(values) else 0.0


def iperf3_flows(senders, receivers, seconds: float) -> list[float]:
    """Run one iperf3 TCP flow per pair at once; return each flow's received goodput in Mbit/s."""
    servers = [r.popen(["iperf3", "-s", "-1", "-p", "5201"]) for r in receivers]
    try:
        senders[0].cmd("sleep 0.3")
        clients = [s.popen(["iperf3", "-c", r.IP(), "-p", "5201", "-t", str(seconds), "--json"])
                   for s, r in zip(senders, receivers)]
        out = []
        for c in clients:
            stdout, _ = c.communicate()
            out.append(json.loads(stdout)["end"]["sum_received"]["bits_per_second"] / 1e6)
        return out
    finally:
        for s in servers:
            s.kill()
            s.wait()


def netkit_flows(workload: str, senders, receivers, seconds: float) -> list[float]:
    """Run one netkit workload per pair at once over UDP; return each flow's throughput in Mbit/s."""
    hosts, flows = {}, []
    for i, (s, r) in enumerate(zip(senders, receivers)):
        hosts[f"s{i}"], hosts[f"r{i}"] = (node_netns(s), s.IP()), (node_netns(r), r.IP())
        (plan,) = app_flows(app_entry(workload), seed=i)
        flows.append(LiveFlow(plan.server, plan.client, f"s{i}", f"r{i}", plan.label))
    runs = run_precise(run_flows(HostMap(hosts), flows, int(seconds * 1e6)), realtime=True)
    return [summarize_flow(run.record, 0, int(seconds * 1e6))["throughput_mbps"] for run in runs]


def run(flows: int, trace: str, delay: float, queue: str | None, seconds: float, workload: str,
        log_dir: str) -> dict:
    """Build the dumbbell, run the flows, and return capacity, per-flow throughput and fairness."""
    net = Mininet(switch=LinuxBridge, controller=None, autoSetMacs=True)
    senders = [net.addHost(f"h{i + 1}") for i in range(flows)]
    receivers = [net.addHost(f"r{i + 1}") for i in range(flows)]
    s1, s2 = net.addSwitch("s1"), net.addSwitch("s2")
    for h in senders:
        net.addLink(h, s1)
    for r in receivers:
        net.addLink(r, s2)
    bottleneck = net.addLink(s1, s2, cls=TraceLink, trace=trace, delay=delay, queue=queue, log_dir=log_dir)
    net.start()
    try:
        if workload == "iperf3":
            per_flow = iperf3_flows(senders, receivers, seconds)
        else:
            per_flow = netkit_flows(workload, senders, receivers, seconds)
    finally:
        net.stop()
    log = summarize_log(Path(log_dir) / "downlink.log", 2000, int(seconds * 1000))
    timing = bottleneck.stats["downlink"]["timing"] if bottleneck.stats else {}
    return {
        "flows": per_flow, "sum_mbps": sum(per_flow), "jain": jain(per_flow),
        "capacity_mbps": log.capacity_mbps, "delivered_mbps": log.throughput_mbps, "utilization": log.utilization,
        "delay_ms_p50": log.delay_ms_p50, "delay_ms_p95": log.delay_ms_p95, "link_timing_us": timing,
        "window_s": [2, seconds],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flows", type=int, default=3)
    p.add_argument("--trace", default=LTE, help="bottleneck trace, s1 -> s2 (default: T-Mobile LTE)")
    p.add_argument("--delay", type=float, default=20.0, help="one-way delay of the bottleneck, ms")
    p.add_argument("--queue", default="droptail:packets=150")
    p.add_argument("--duration", type=float, default=20.0, help="seconds")
    p.add_argument("--workload", default="iperf3", help="iperf3, or bulk, cubic, reno, prague, cbr:MBPS")
    p.add_argument("--log-dir", help="keep the bottleneck's Mahimahi logs here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    require_root("the dumbbell example")
    if args.workload == "iperf3":
        require_tool("iperf3")
    setLogLevel("warning")
    with tempfile.TemporaryDirectory() as tmp:
        res = run(args.flows, args.trace, args.delay, args.queue, args.duration, args.workload, args.log_dir or tmp)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"bottleneck: capacity {res['capacity_mbps']:.2f} Mbit/s, delivered {res['delivered_mbps']:.2f} Mbit/s "
          f"({res['utilization'] * 100:.1f}% utilisation), time in the trace link p50/p95 "
          f"{res['delay_ms_p50']:.0f}/{res['delay_ms_p95']:.0f} ms (log window {res['window_s']} s)")
    for i, mbps in enumerate(res["flows"], 1):
        print(f"  flow {i} ({args.workload}): {mbps:.2f} Mbit/s")
    print(f"sum {res['sum_mbps']:.2f} Mbit/s, Jain's fairness {res['jain']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

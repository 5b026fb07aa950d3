"""Two hosts over an LTE trace: a server h1 and a phone h2 behind a netkit TraceLink (Mininet + LinuxBridge).

    h1 (server) ── s1 ══ TraceLink(downlink trace, uplink trace, delay, queue) ══ h2 (phone)

The downlink trace shapes s1 -> h2, the uplink trace h2 -> s1. The workload
downloads from h1 to h2: `iperf3` (kernel TCP) or a netkit sans-I/O workload
(`bulk`, `cubic`, `reno`, `prague`, `cbr:MBPS`) over real UDP sockets in the hosts.
Prints the download's throughput, the link's capacity and utilisation (from its
Mahimahi logs, kept with `--log-dir`) and the link process's timing error.

    sudo .venv/bin/python emulation/lte_two_host.py [--trace DOWN] [--uplink UP] [--delay 20]
        [--queue droptail:packets=150] [--duration 20] [--workload iperf3] [--log-dir DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
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

# the real LTE recording (NETKIT_TRACES or ../shared/traces), else one the project generates
DOWN = str(find_trace("TMobile-LTE-short.down") or "traces/randomwalk-6mbps-seed1.trace")
UP = str(find_trace("TMobile-LTE-short.up") or "")


def download(workload: str, server, phone, seconds: float) -> dict:
    """Run the download; return its throughput (and one-way delay percentiles for netkit workloads)."""
    if workload == "iperf3":
        srv = server.popen(["iperf3", "-s", "-1", "-p", "5201"])
        try:
            phone.cmd("sleep 0.3")
            out = phone.cmd(f"iperf3 -c {server.IP()} -p 5201 -R -t {seconds} --json")
            return {"throughput_mbps": json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6}
        finally:
            srv.kill()
            srv.wait()
    (plan,) = app_flows(app_entry(workload))
    hosts = HostMap({"h1": (node_netns(server), server.IP()), "h2": (node_netns(phone), phone.IP())})
    flow = LiveFlow(plan.server, plan.client, "h1", "h2", plan.label)
    (run,) = run_precise(run_flows(hosts, [flow], int(seconds * 1e6)), realtime=True)
    s = summarize_flow(run.record, 0, int(seconds * 1e6))
    return {k: s[k] for k in ("throughput_mbps", "delay_ms_p50", "delay_ms_p95", "loss_rate")}


def run(trace: str, uplink: str | None, delay: float, queue: str | None, seconds: float, workload: str,
        log_dir: str) -> dict:
    """Build h1 - s1 - TraceLink - h2, run the download, summarise."""
    net = Mininet(switch=LinuxBridge, controller=None, autoSetMacs=True)
    server, phone = net.addHost("h1"), net.addHost("h2")
    s1 = net.addSwitch("s1")
    net.addLink(server, s1)
    link = net.addLink(s1, phone, cls=TraceLink, trace=trace, uplink=uplink, delay=delay, queue=queue,
                       log_dir=log_dir)
    net.start()
    try:
        result = download(workload, server, phone, seconds)
    finally:
        net.stop()
    log = summarize_log(Path(log_dir) / "downlink.log", 2000, int(seconds * 1000))
    result.update(capacity_mbps=log.capacity_mbps, delivered_mbps=log.throughput_mbps, utilization=log.utilization,
                  link_delay_ms_p50=log.delay_ms_p50, link_delay_ms_p95=log.delay_ms_p95,
                  link_timing_us=link.stats["downlink"]["timing"] if link.stats else {})
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", default=DOWN, help="downlink trace, into h2 (default: T-Mobile LTE)")
    p.add_argument("--uplink", default=UP if UP and os.path.exists(UP) else None, help="uplink trace, out of h2")
    p.add_argument("--delay", type=float, default=20.0, help="one-way delay, ms, each direction")
    p.add_argument("--queue", default="droptail:packets=150", help="downlink queue")
    p.add_argument("--duration", type=float, default=20.0, help="seconds")
    p.add_argument("--workload", default="iperf3", help="iperf3, or bulk, cubic, reno, prague, cbr:MBPS")
    p.add_argument("--log-dir", help="keep the link's Mahimahi logs (downlink.log, uplink.log) here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    require_root("the two-host example")
    if args.workload == "iperf3":
        require_tool("iperf3")
    setLogLevel("warning")
    with tempfile.TemporaryDirectory() as tmp:
        res = run(args.trace, args.uplink, args.delay, args.queue, args.duration, args.workload, args.log_dir or tmp)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"download ({args.workload}): {res['throughput_mbps']:.2f} Mbit/s")
    if "delay_ms_p50" in res:
        print(f"  one-way delay p50/p95 {res['delay_ms_p50']:.1f}/{res['delay_ms_p95']:.1f} ms, "
              f"loss {res['loss_rate'] * 100:.2f}%")
    print(f"downlink: capacity {res['capacity_mbps']:.2f} Mbit/s, delivered {res['delivered_mbps']:.2f} Mbit/s "
          f"({res['utilization'] * 100:.1f}% utilisation), time in the trace link p50/p95 "
          f"{res['link_delay_ms_p50']:.0f}/{res['link_delay_ms_p95']:.0f} ms (from 2 s on)")
    t = res["link_timing_us"]
    if t:
        print(f"link process timing error p50/p99 {t['p50_us']:.0f}/{t['p99_us']:.0f} us over {t['count']} packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())

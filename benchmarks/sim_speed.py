"""Simulator speed: simulated packets per wall-clock second and speed-up over real time.

A saturating Cubic flow over a 12 Mbit/s trace (constant, and a real LTE trace
when ../shared is present), 20 ms one-way delay each way, a one-BDP droptail
buffer. The figure of merit is simulated seconds per wall second (goal: >= 100x
on one core); the ratio is measured in this process against the wall clock, so
machine noise affects both the numerator and nothing else.

    .venv/bin/python benchmarks/sim_speed.py [--seconds 60] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from netkit.link import Chain, Delay, TraceLink
from netkit.sim.engine import Simulator
from netkit.sim.topology import two_host_path
from netkit.trace import read_mahimahi, synth
from netkit.transport.stream import StreamReceiver, StreamSender
from netkit.trace.locate import lte_dir

SHARED = lte_dir() or Path("no-shared-traces")  # NETKIT_TRACES, else ../shared/traces


def run_once(trace, seconds: float, queue: str) -> tuple[float, int, int]:
    """(wall seconds, data packets delivered, events) for one saturating flow."""
    sim = Simulator(0)
    fwd = Chain([Delay.ms(20), TraceLink(trace, queue)])
    rev = Chain([Delay.ms(20)])
    _, flow = two_host_path(sim, fwd, rev, StreamSender("cubic", bulk=True), StreamReceiver(), "cubic")
    t0 = time.perf_counter()
    sim.run(int(seconds * 1e6))
    wall = time.perf_counter() - t0
    return wall, len(flow.record.arrivals_us), sim.events_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="simulated seconds per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best is reported")
    args = ap.parse_args()
    cases = [("constant 12 Mbit/s", synth.constant(12, 10), "droptail:packets=40")]
    if (SHARED / "TMobile-LTE-short.down").exists():
        cases.append(("TMobile-LTE-short (mean 16.7 Mbit/s)", read_mahimahi(SHARED / "TMobile-LTE-short.down"),
                      "droptail:packets=100"))
    print(f"{'case':40s} {'sim s':>6s} {'wall s':>7s} {'pkts/wall s':>12s} {'events/wall s':>14s} {'x real time':>12s}")
    for name, trace, queue in cases:
        best = min(run_once(trace, args.seconds, queue) for _ in range(args.repeat))
        wall, pkts, events = best
        print(f"{name:40s} {args.seconds:6.0f} {wall:7.2f} {pkts / wall:12,.0f} {events / wall:14,.0f} "
              f"{args.seconds / wall:11.1f}x")


if __name__ == "__main__":
    main()

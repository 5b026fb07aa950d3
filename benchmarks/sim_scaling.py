"""Simulator cost per packet against packets in flight (10 to 100,000) and against flows (1 to 100).

    .venv/bin/python benchmarks/sim_scaling.py [--packets 100000] [--plot docs/img/sim_scaling.png]
                                               [--builds compiled pure]

In flight: one bulk flow with a fixed window of N packets (`FixedWindow`) over a 1 Gbit/s
constant trace, 20 ms each way, unbounded queue, so N packets are always in flight (the excess
over the path's 3333-packet BDP waits in the queue); after the window has filled and turned over
once (untimed), the timed part lasts until about `--packets` more data packets are delivered
(window-limited runs take longer in simulated time). Flows: 1 to 100 Cubic bulk flows through
the same 1 Gbit/s link with a one-BDP droptail queue, 1 s untimed (slow start), then 2 s timed.
The cost is the time of `sim.run` over data packets delivered (ACKs are part of the cost),
taken as the process's CPU time: on an idle machine it equals the wall time, on a shared one it
leaves out the time other jobs held the core (both are printed; the plot and ratio use CPU).
Each build (compiled with mypyc, pure Python) runs in its own process; each point is the cheapest
of --repeat runs; the printed ratio is the cost with 100,000 in flight over the cost with 40 in
flight, measured in the same process.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = [10, 40, 100, 1000, 10_000, 100_000]
FLOWS = [1, 2, 5, 10, 20, 50, 100]
RATE_MBPS = 1000.0
PKTS_PER_S = RATE_MBPS * 1e6 / 8 / 1504  # opportunities of 1504 bytes, one 1500-byte packet each
RTT_S = 0.040


def measure(window: int | None, flows: int, seconds: float, warmup_s: float = 0.0) -> dict:
    """Time per delivered packet for one configuration (in this process), after `warmup_s` untimed."""
    from netkit.link import Chain, Delay, TraceLink
    from netkit.sim.engine import Simulator
    from netkit.sim.topology import dumbbell
    from netkit.trace import synth
    from netkit.transport.cc import FixedWindow
    from netkit.transport.stream import MSS, StreamReceiver, StreamSender

    sim = Simulator(0)
    queue = None if window is not None else "droptail:packets=3333"
    fwd = Chain([Delay.ms(20), TraceLink(synth.constant(RATE_MBPS, 10), queue)])
    rev = Chain([Delay.ms(20)])
    if window is not None:
        pairs = [(StreamSender(FixedWindow(MSS, window), bulk=True), StreamReceiver(), "fixed")]
    else:
        pairs = [(StreamSender("cubic", bulk=True), StreamReceiver(), "cubic") for _ in range(flows)]
    net = dumbbell(sim, fwd, rev, pairs)
    sim.run(int(warmup_s * 1e6))  # the window fills (in flight) or slow start ends (flows): not timed
    before = sum(f.record.received for f in net.flows)
    c0 = time.process_time()
    t0 = time.perf_counter()
    sim.run(int((warmup_s + seconds) * 1e6))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    delivered = sum(f.record.received for f in net.flows) - before
    in_flight = sum(f.sender.endpoint.packets_in_flight for f in net.flows)
    return {"window": window, "flows": flows, "seconds": seconds, "wall_s": wall, "cpu_s": cpu,
            "delivered": delivered, "in_flight_at_end": in_flight,
            "us_per_packet": cpu / max(delivered, 1) * 1e6, "wall_us_per_packet": wall / max(delivered, 1) * 1e6}


def run_build(packets: int, repeat: int) -> dict:
    """Every point of both sweeps, in this process (one build); each point's cheapest of `repeat` runs."""
    from netkit import fastpath

    def best(window: int | None, flows: int, seconds: float, warmup_s: float) -> dict:
        runs = [measure(window, flows, seconds, warmup_s) for _ in range(repeat)]
        return min(runs, key=lambda r: r["us_per_packet"])

    res = {"build": fastpath.describe(), "in_flight": [], "flows": []}
    for n in IN_FLIGHT:
        rate = min(PKTS_PER_S, n / RTT_S)
        # the first packet of the window is acknowledged after its queueing delay plus one RTT
        res["in_flight"].append(best(n, 1, packets / rate, n / PKTS_PER_S + RTT_S))
    for f in FLOWS:
        res["flows"].append(best(None, f, 2.0, 1.0))
    return res


def plot(results: dict[str, dict], path: Path) -> None:
    """Two panels: cost per packet against packets in flight, and against flows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, res in results.items():
        a.plot([p["window"] for p in res["in_flight"]], [p["us_per_packet"] for p in res["in_flight"]],
               "o-", label=name)
        b.plot([p["flows"] for p in res["flows"]], [p["us_per_packet"] for p in res["flows"]], "o-", label=name)
    a.set_xscale("log")
    a.set_xlabel("packets in flight (fixed window, 1 Gbit/s, 40 ms RTT)")
    b.set_xscale("log")
    b.set_xlabel("Cubic flows (1 Gbit/s, droptail 1 BDP)")
    for ax in (a, b):
        ax.set_ylabel("µs (CPU) per delivered packet")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("netkit simulator: cost per packet")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main() -> int:
    """Run each requested build in its own process, print the tables and the ratio, plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000, help="delivered packets per in-flight point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the cheapest is kept (default 3)")
    ap.add_argument("--builds", nargs="+", choices=["compiled", "pure"], default=["compiled", "pure"])
    ap.add_argument("--plot", type=Path, help="write the figure here (PNG)")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.packets < 1000 or args.repeat < 1:
        ap.error("--packets must be >= 1000 and --repeat >= 1")
    if args.worker:
        print(json.dumps(run_build(args.packets, args.repeat)))
        return 0
    results = {}
    for build in args.builds:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
        if build == "pure":
            env["NETKIT_PURE"] = "1"
        out = subprocess.run([sys.executable, __file__, "--worker", "--packets", str(args.packets),
                              "--repeat", str(args.repeat)],
                             env=env, capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        if build == "compiled" and not res["build"].startswith("compiled"):
            print(f"compiled build not available ({res['build']}); skipping it")
            continue
        results[build] = res
        print(f"\n{build}: {res['build']}")
        head = f"{'timed s':>8s} {'delivered':>10s} {'cpu s':>7s} {'wall s':>7s} {'µs/pkt':>7s} {'wall µs/pkt':>11s}"
        print(f"{'in flight':>10s} {head}")
        for p in res["in_flight"]:
            print(f"{p['window']:10,d} {p['seconds']:8.2f} {p['delivered']:10,d} {p['cpu_s']:7.2f} {p['wall_s']:7.2f} "
                  f"{p['us_per_packet']:7.2f} {p['wall_us_per_packet']:11.2f}")
        by_n = {p["window"]: p["us_per_packet"] for p in res["in_flight"]}
        print(f"cost with 100,000 in flight / cost with 40: {by_n[100_000] / by_n[40]:.2f}x (target <= 1.3x)")
        print(f"{'flows':>10s} {head}")
        for p in res["flows"]:
            print(f"{p['flows']:10d} {p['seconds']:8.2f} {p['delivered']:10,d} {p['cpu_s']:7.2f} {p['wall_s']:7.2f} "
                  f"{p['us_per_packet']:7.2f} {p['wall_us_per_packet']:11.2f}")
    if args.plot and results:
        plot(results, args.plot)
        print(f"\nplot: {args.plot}")
    if args.json:
        from netkit.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prague's safety over classic bottlenecks: Prague against Cubic or Reno through drop-based AQMs.

With no L4S queue, Prague's ECT(1) packets get no marks, only drops; it must then
behave like a classic flow (halve on loss) and leave the other flow its share.

    .venv/bin/python benchmarks/l4s_classic.py [--rate 12] [--duration 20]
"""
from __future__ import annotations

import argparse

from netkit.experiment.l4s import l4s_experiment
from netkit.experiment.runner import run
from netkit.experiment.spec import parse_experiment

QUEUES = [
    "droptail:packets=100",
    "pie:packets=1000,qdelay_ref=15,max_burst=150",
    "codel:packets=1000,target=5,interval=100",
]


def main() -> None:
    """One row per (queue, competitor): throughputs, their ratio, Prague's CE and loss reactions."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=12.0, help="bottleneck Mbit/s")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rtt", type=float, default=20.0, help="base RTT in ms")
    args = p.parse_args()
    print("| queue | flows | Mbit/s | Prague/other | utilisation | Prague CE reductions | Prague loss reductions |")
    print("|---|---|---|---|---|---|---|")
    for queue in QUEUES:
        for other in ("cubic", "reno"):
            exp = parse_experiment(l4s_experiment(args.rate, args.rtt, queue, ["prague", other], args.duration, 2.0))
            result = run(exp)
            m = result.metrics
            cc = result.apps[0].sender.cc
            a, b = m["prague.throughput_mbps"], m[f"{other}.throughput_mbps"]
            print(f"| {queue.split(':')[0]} | prague + {other} | {a:.2f} / {b:.2f} | {a / b:.2f} | "
                  f"{m['utilization']:.3f} | {cc.ce_events} | {cc.loss_events} |")


if __name__ == "__main__":
    main()

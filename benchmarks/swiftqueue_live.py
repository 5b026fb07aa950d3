"""SwiftQueue in the simulator and live: the same experiment (trace, seed, policy) through the experiment
layer's runner in both drivers; prints the measured flow's p99 latency in each and their ratio.

    sudo .venv/bin/python benchmarks/swiftqueue_live.py [--trace traces/const-12mbps.trace] [--duration 30]

Target: sim and live agree within 10% on p99. Needs root (namespaces, TUN); each policy runs in real time.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Run and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="traces/const-12mbps.trace")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=200)
    ap.add_argument("--policy", action="append", dest="policies", help="default: l4s and swiftqueue")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    from netkit.apps.swiftqueue.live import emu_unavailable, sim_and_live

    why = emu_unavailable()
    if why:
        print(f"skipped: {why}")
        return 0
    rows = {}
    for pol in args.policies or ["l4s", "swiftqueue"]:
        row = sim_and_live(args.trace, pol, args.seed, args.duration)
        s, l = row["sim"], row["live"]
        rows[pol] = row
        print(f"{pol:10s} p99 sim {s['latency_ms_p99']:.1f} ms, live {l['latency_ms_p99']:.1f} ms "
              f"(live/sim {l['latency_ms_p99'] / s['latency_ms_p99']:.3f}); p50 {s['latency_ms_p50']:.1f} / "
              f"{l['latency_ms_p50']:.1f}; throughput {s['throughput_mbps']:.2f} / {l['throughput_mbps']:.2f} Mbit/s",
              flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

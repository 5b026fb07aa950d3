"""SwiftQueue in the simulator and live: the same experiment (trace, seed, policy) through the experiment
layer's runner in both drivers; prints the measured flow's p99 latency in each and their ratio.

    sudo .venv/bin/python benchmarks/swiftqueue_live.py [--trace traces/const-12mbps.trace] [--duration 30]
        [--seeds N]

Target: sim and live agree within 10% on p99. Needs root (namespaces, TUN); each policy runs in real time.
With --seeds N (seeds SEED..SEED+N-1) it also prints the p99 of all N runs' packets pooled, per driver: the
p99 of one 30 s run is its ~15th slowest packet, and live timing noise moves it between runs by more than 10%.
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
    from netkit import validate as v

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="traces/const-12mbps.trace")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=200)
    ap.add_argument("--seeds", type=v.arg_int(1, 1000), default=1,
                    help="runs per policy, seeds SEED.. (pooled p99 when > 1)")
    ap.add_argument("--policy", action="append", dest="policies", help="default: l4s and swiftqueue")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    from netkit.apps.swiftqueue.live import emu_unavailable, sim_and_live

    why = emu_unavailable()
    if why:
        print(f"skipped: {why}")
        return 0
    import numpy as np

    from netkit.sim.metrics import percentile

    rows = {}
    for pol in args.policies or ["l4s", "swiftqueue"]:
        pooled: dict[str, list] = {"sim": [], "live": []}
        rows[pol] = []
        for seed in range(args.seed, args.seed + args.seeds):
            row = sim_and_live(args.trace, pol, seed, args.duration)
            s, l = row["sim"], row["live"]
            delays = row.pop("delays_ms")  # not in the JSON rows
            for name in pooled:
                pooled[name].extend(delays[name].tolist())
            rows[pol].append({"seed": seed, **row})
            print(f"{pol:10s} seed {seed} p99 sim {s['latency_ms_p99']:.1f} ms, live {l['latency_ms_p99']:.1f} ms "
                  f"(live/sim {l['latency_ms_p99'] / s['latency_ms_p99']:.3f}); p50 {s['latency_ms_p50']:.1f} / "
                  f"{l['latency_ms_p50']:.1f}; throughput {s['throughput_mbps']:.2f} / {l['throughput_mbps']:.2f} "
                  "Mbit/s", flush=True)
        if args.seeds > 1:
            p_sim, p_live = (percentile(np.array(pooled[name]), 99) for name in ("sim", "live"))
            print(f"{pol:10s} pooled over {args.seeds} seeds: p99 sim {p_sim:.1f} ms, live {p_live:.1f} ms "
                  f"(live/sim {p_live / p_sim:.3f}; {len(pooled['sim'])} / {len(pooled['live'])} packets)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

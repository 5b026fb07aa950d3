"""Where per-packet queue selection can win, measured with the lookahead oracle on the TRAINING traces only.

Per training trace x traffic mix x seed (validation seeds from 300): the measured flow's p99 under per-flow
L4S, per-flow classic and the oracle (`lookahead.LookaheadOracle`), the oracle's gain over L4S, and how often
C is the faster queue, and the same oracle deciding on the state of one base RTT before (20 ms: `oracle-stale`,
the freshest any ACK feedback could be): the share of the per-flow L4S run's ACKs at which a packet sent then would leave C at
least 5 ms sooner than L (the bottleneck lookahead, the flow's own packets included), with the mean gain at those
moments. The bench's held-out traces are never run here.

    .venv/bin/python benchmarks/swiftqueue_headroom.py [--seeds 2] [--duration 30] [--rate-mbps 0.6]
        [--json results/swiftqueue-headroom.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VALIDATION_SEED = 300  # as benchmarks/swiftqueue_margin.py: not a training (0..), card (100) or bench (200) seed
POLICIES = ("l4s", "classic", "oracle", "oracle-stale")
GAIN_MS = 5.0


def main() -> int:
    """Run and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--rate-mbps", type=float, default=0.6, help="the measured flow's application rate")
    ap.add_argument("--burst-mbps", type=float, default=10.0, help="the on/off L4S bursts' rate while on")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.bench import latency_stats
    from netkit.apps.swiftqueue.dataset import STALE_ORACLE_MS, simulate

    rows = []
    pooled: dict[str, list] = {p: [] for p in POLICIES}
    print(f"{'trace':28s} {'mix':7s} {'seed':>4s} {'l4s p99':>8s} {'classic':>8s} {'oracle':>8s} {'gain':>7s} "
          f"{'stale':>8s} {'oracle L':>8s} {'C>=5ms faster':>14s} {'mean gain there':>16s}")
    for tr in scenario.TRAIN_TRACES:
        path = scenario.resolve_trace(tr)
        for mix in scenario.MIXES:
            for seed in range(VALIDATION_SEED, VALIDATION_SEED + args.seeds):
                runs = {p: simulate(path, seed, mix, "oracle" if p == "oracle-stale" else p, args.duration,
                                    record_lookahead=(p == "l4s"), rate_mbps=args.rate_mbps,
                                    burst_mbps=args.burst_mbps,
                                    **({"oracle_stale_ms": STALE_ORACLE_MS} if p == "oracle-stale" else {}))
                        for p in POLICIES}
                for p in POLICIES:
                    pooled[p].append(runs[p])
                la = runs["l4s"]
                keep = la.raw[:, 0] >= la.warmup_us
                y = la.targets("lookahead")[keep]
                gain = y[:, 0] - y[:, 1]
                moments = gain >= GAIN_MS
                p99 = {p: runs[p].metrics["latency_ms_p99"] for p in POLICIES}
                row = {"trace": tr, "mix": mix, "seed": seed, **{f"{p}_p99_ms": v for p, v in p99.items()},
                       "oracle_gain": 1 - p99["oracle"] / p99["l4s"], "oracle_share_l": runs["oracle"].metrics["share_l"],
                       "c_faster_share": float(moments.mean()) if len(moments) else float("nan"),
                       "c_faster_mean_gain_ms": float(gain[moments].mean()) if moments.any() else 0.0}
                rows.append(row)
                print(f"{Path(tr).name:28s} {mix:7s} {seed:4d} {p99['l4s']:8.1f} {p99['classic']:8.1f} "
                      f"{p99['oracle']:8.1f} {100 * row['oracle_gain']:+6.1f}% {p99['oracle-stale']:8.1f} "
                      f"{row['oracle_share_l']:8.2f} "
                      f"{100 * row['c_faster_share']:13.1f}% {row['c_faster_mean_gain_ms']:13.1f} ms")
    stats = {p: latency_stats(rs) for p, rs in pooled.items()}
    print("pooled: " + ", ".join(f"{p} p99 {s['p99_ms']:.1f} ms ({s['throughput_mbps']:.3f} Mbit/s)"
                                 for p, s in stats.items())
          + f"; oracle {100 * (1 - stats['oracle']['p99_ms'] / stats['l4s']['p99_ms']):.1f}% below l4s; "
          f"oracle at least as good as l4s in {sum(r['oracle_p99_ms'] <= r['l4s_p99_ms'] for r in rows)}/{len(rows)} runs; "
          f"stale oracle {100 * (1 - stats['oracle-stale']['p99_ms'] / stats['l4s']['p99_ms']):.1f}% below l4s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows,
                                               "pooled": stats}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

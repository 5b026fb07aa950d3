"""The L4S dumbbell over several seeds: the four target numbers per seed and the simulator's speed.

    .venv/bin/python benchmarks/l4s_seeds.py [--seeds 5] [--duration 30]
"""
from __future__ import annotations

import argparse
import time

from netkit.experiment.l4s import l4s_experiment, run_l4s


def main() -> None:
    """Run seeds 0..N-1 and print one row each, then the worst value of each target."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--duration", type=float, default=30.0)
    args = p.parse_args()
    print("| seed | L p99 (ms) | C p50 (ms) | Prague/Cubic | utilisation | Prague Mbit/s | Cubic Mbit/s | pass "
          "| sim x real time |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        run = run_l4s(l4s_experiment(duration_s=args.duration, seed=seed))
        wall = time.perf_counter() - t0
        m = run.metrics
        rows.append(m)
        print(f"| {seed} | {m['l_sojourn_ms_p99']:.2f} | {m['c_sojourn_ms_p50']:.2f} | {m['throughput_ratio']:.2f} | "
              f"{m['utilization']:.3f} | {m['prague_mbps']:.1f} | {m['cubic_mbps']:.1f} | "
              f"{'yes' if run.passed else 'NO'} | {args.duration / wall:.1f} |")
    print(f"worst: L p99 {max(r['l_sojourn_ms_p99'] for r in rows):.2f} ms, C p50 in "
          f"[{min(r['c_sojourn_ms_p50'] for r in rows):.2f}, {max(r['c_sojourn_ms_p50'] for r in rows):.2f}] ms, "
          f"ratio in [{min(r['throughput_ratio'] for r in rows):.2f}, {max(r['throughput_ratio'] for r in rows):.2f}], "
          f"utilisation >= {min(r['utilization'] for r in rows):.3f}")


if __name__ == "__main__":
    main()

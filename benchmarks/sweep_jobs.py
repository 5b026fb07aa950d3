"""Sweep speed-up: the same 40-run sweep with `--jobs 1` and `--jobs 2` on the local pool, side by side.

    .venv/bin/python benchmarks/sweep_jobs.py [--duration 4] [--jobs 2]

Each run is a short simulator run (a Cubic flow and CBR over a 12 Mbit/s trace).
Target: `--jobs 2` at least 1.8x faster than `--jobs 1` (needs 2 idle cores;
on a shared machine the ratio says how many cores were really free).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from netkit.experiment.sweep import Sweep, run_sweep

DATA = {"name": "sweep-bench", "links": {"down": {"trace": "constant:12", "delay_ms": 20,
                                                   "queue": "droptail:packets=100"}, "up": {"delay_ms": 20}},
        "apps": [{"module": "bulk"}, {"module": "cbr", "rate_mbps": 2}]}


def main() -> None:
    """Time 40 runs at --jobs 1 and at --jobs N; print both and the speed-up; check the metrics are the same."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=4.0, help="simulated seconds per run")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    data = {**DATA, "duration_s": args.duration}
    axes = [[{"links.down.loss": x} for x in (0.0, 0.01, 0.02, 0.05)]]
    sweep = Sweep(data, "sweep-bench", ".", axes, list(range(10)))
    load = os.getloadavg()
    times, metrics, cpu = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, args.jobs):
            out = Path(tmp) / f"j{jobs}"
            t0 = time.perf_counter()
            run_sweep(sweep, out, jobs=jobs, progress=False)
            times[jobs] = time.perf_counter() - t0
            recs = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
            metrics[jobs] = {r["run_id"]: r["metrics"] for r in recs}
            cpu[jobs] = sum(r["cpu_s"] for r in recs)
    n = len(metrics[1])
    print(f"load average before/after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{n} runs of {args.duration:g} simulated s: --jobs 1 {times[1]:.1f} s, --jobs {args.jobs} "
          f"{times[args.jobs]:.1f} s, speed-up {times[1] / times[args.jobs]:.2f}x (target >= 1.8x); "
          f"same metrics per run_id: {metrics[1] == metrics[args.jobs]}")
    # CPU seconds the runs got per wall second: how many cores the sweep actually had (at most --jobs)
    print(f"cores obtained: --jobs 1 {cpu[1] / times[1]:.2f}, --jobs {args.jobs} {cpu[args.jobs] / times[args.jobs]:.2f} "
          f"(CPU s of the runs per wall s: the speed-up is about their ratio, so it needs {args.jobs} free cores)")


if __name__ == "__main__":
    main()

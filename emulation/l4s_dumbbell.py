"""L4S dumbbell: one Prague and one Cubic flow through a DualPI2 bottleneck (100 Mbit/s, 20 ms base RTT).

Runs in the simulator and writes per-queue sojourn CDFs, throughput shares, mark and
drop rates and the checks against the L4S targets into `--out`:

    .venv/bin/python emulation/l4s_dumbbell.py --out results/l4s [--duration 30] [--seed 0] [--check]

`CONFIG` is the experiment as data; a live driver takes it (rate, base RTT, queue
spec, workloads, duration, skipped start-up) and feeds its own measurements to
`netkit.experiment.l4s.evaluate`.
"""
from __future__ import annotations

import sys

from netkit.experiment.l4s import L4SConfig, main

CONFIG = L4SConfig(rate_mbps=100.0, base_rtt_ms=20.0, queue="dualpi2", apps=["prague", "cubic"],
                   duration_s=30.0, skip_s=2.0)

if __name__ == "__main__":
    sys.exit(main(prog="python emulation/l4s_dumbbell.py"))

"""Run every benchmark in turn (`make bench`); each prints its own ratios against its baseline.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, needs root for namespaces and TUN)
BENCHMARKS = [
    ("sim_speed.py", False),
    ("sweep_jobs.py", False),
    ("sim_scaling.py", False),
    ("sim_memory.py", False),
    ("vs_ns3.py", False),
    ("l4s_seeds.py", False),
    ("l4s_classic.py", False),
    ("tokenstream_sweep.py", False),
    ("kvstream_codec.py", False),
    ("kvstream_streaming.py", False),
    ("grace_codec.py", False),
    ("grace_sim_live.py", True),
    ("swiftqueue_inference.py", False),
    ("swiftqueue_bench.py", False),
    ("swiftqueue_live.py", True),
    ("emu_link.py", True),
    ("p4_forwarding.py", True),
    ("sfu_meetings.py", False),
    ("sfu_live.py", True),
    ("sfu_janus.py", True),
    ("sfu_scaling.py", False),
]


def main() -> int:
    """Run the selected benchmarks; the exit status is the number that failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="script name to run (repeatable)")
    args = ap.parse_args()
    failed = 0
    for script, needs_root in BENCHMARKS:
        if args.only and script not in args.only:
            continue
        if not (HERE / script).exists():
            continue
        print(f"\n=== {script} ===", flush=True)
        if needs_root and os.geteuid() != 0:
            print("skipped: needs root (network namespaces and TUN devices)")
            continue
        rc = subprocess.call([sys.executable, str(HERE / script)])
        if rc:
            print(f"{script} exited with status {rc}")
            failed += 1
    return failed


if __name__ == "__main__":
    sys.exit(main())

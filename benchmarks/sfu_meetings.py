"""SFU benchmark: the same meetings through the P4 SFU (software target) and the software SFU, side by side.

Prints, per SFU, the forwarding time per input packet (p50/p99, this machine's clock around the SFU's
processing inside the simulator), the control-plane share of packets and bytes, fps and freezes, and
the software SFU's forwarding time as a ratio of the P4 SFU's. Targets (issue 11): control-plane share at
most 3.5% of packets; every receiver gets every other's video; the constrained receivers move down.

    .venv/bin/python benchmarks/sfu_meetings.py [--participants 4 --meetings 3 --duration 10]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=4)
    ap.add_argument("--meetings", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    plan = MeetingPlan(participants=args.participants, meetings=args.meetings,
                       traces=("constant:10", "constant:1") + ("constant:10",) * max(0, args.participants - 2),
                       duration_s=args.duration)
    res = {name: run_meetings(plan, name) for name in ("scallop", "software")}
    print(f"{args.meetings} meetings x {args.participants} participants, {args.duration:g} s, participant 2 of each "
          f"behind 1 Mbit/s")
    print(f"{'sfu':9s} {'fwd p50 us':>10s} {'fwd p99 us':>10s} {'cpu pkts':>9s} {'cpu bytes':>9s} {'fps p50':>7s} "
          f"{'min fps':>7s} {'max freeze ms':>13s} {'gaps':>5s}")
    for name, s in res.items():
        rows = s["receivers"]
        print(f"{name:9s} {s['forward_latency_ms_p50'] * 1000:10.1f} {s['forward_latency_ms_p99'] * 1000:10.1f} "
              f"{s['cpu_packets_fraction'] * 100:8.2f}% {s['cpu_bytes_fraction'] * 100:8.2f}% {s['fps_p50']:7.1f} "
              f"{min(r['fps'] for r in rows):7.1f} {max(r['max_freeze_ms'] for r in rows):13.0f} {s['seq_gaps']:5d}")
    a, b = res["scallop"], res["software"]
    print(f"software / scallop forwarding time: p50 x{b['forward_latency_ms_p50'] / a['forward_latency_ms_p50']:.2f}, "
          f"p99 x{b['forward_latency_ms_p99'] / a['forward_latency_ms_p99']:.2f}")
    share = a["cpu_packets_fraction"]
    print(f"control-plane share {share * 100:.2f}% of packets: {'meets' if share <= 0.035 else 'misses'} the 3.5% target")
    return 0


if __name__ == "__main__":
    sys.exit(main())

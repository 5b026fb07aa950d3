"""Scaling model of the SFU (Scallop's section 7 question): how many meetings a Tofino-class data plane supports
without and with rate adaptation, against a 32-core software SFU server, from numbers measured here.

Measured in this run (the simulator, the same meetings for both SFUs, 4-party meetings with one receiver
behind 1 Mbit/s, no loss):
  * per meeting: packets and bytes per second into the SFU, copies out per packet in;
  * the control plane's share of packets (RR+REMB compounds; with loss NACKs add about 2 points per 1%),
    and its CPU time per control packet (the Python control core with the P4 backend in process);
  * the software SFU's CPU time per input packet (the Python forwarder, replication included).

Assumptions (stated, not measured): a Tofino-1-class switch forwards 6.4 Tbit/s (egress bytes bound the
media, replication is free in the traffic manager); its tables and registers hold 64k (stream, receiver)
slots and 64k streams (our P4 program declares 4,096 and 1,024; the TNA program keeps no seq_history,
and a 64k-cell 48-bit seq_state is one stage's SRAM); without
rate adaptation the control plane sees only STUN and the rare keyframe request (taken as 0.1% of
packets); with it, every RR/REMB/NACK (the measured share); the control plane and the software SFU each
get one 32-core server whose cores all do SFU work at the measured per-packet CPU time (thread CPU
time, so a busy machine's waiting is not counted), with no other bottleneck (NIC, kernel, memory
bandwidth). Our per-packet costs are Python's; a C++ SFU (mediasoup) costs much less per packet, so the
script also prints the break-even: the per-packet cost at which a 32-core server would match the
Tofino-class figure.

    .venv/bin/python benchmarks/sfu_scaling.py [--participants 4 --duration 6]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOFINO_BPS = 6.4e12
SLOTS, STREAMS = 65_536, 65_536      # one 48-bit register array of 64k cells is ~3 Mbit: one stage's SRAM
CORES = 32
NO_RA_SHARE = 0.001


def main() -> int:
    from netkit.apps.sfu import control, software
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=4)
    ap.add_argument("--meetings", type=int, default=3)
    ap.add_argument("--duration", type=float, default=6.0)
    args = ap.parse_args()
    n = args.participants
    plan = MeetingPlan(participants=n, meetings=args.meetings, duration_s=args.duration, decode=False,
                       traces=("constant:10", "constant:1") + ("constant:10",) * max(0, n - 2))
    cp_ns: list[int] = []
    sw_ns: list[int] = []
    original, forward = control.SfuControl.packet, software.SoftwareForwarder.forward

    def timed(self, src, payload, now_us):
        t0 = time.thread_time_ns()
        original(self, src, payload, now_us)
        cp_ns.append(time.thread_time_ns() - t0)

    def timed_forward(self, src, payload, now_us):
        t0 = time.thread_time_ns()
        out = forward(self, src, payload, now_us)
        sw_ns.append(time.thread_time_ns() - t0)
        return out
    control.SfuControl.packet = timed
    software.SoftwareForwarder.forward = timed_forward
    try:
        p4 = run_meetings(plan, "scallop")
        cp_p4 = list(cp_ns)
        sw = run_meetings(plan, "software")
    finally:
        control.SfuControl.packet, software.SoftwareForwarder.forward = original, forward
    secs = args.duration
    pps_in = p4["sfu_packets_in"] / args.meetings / secs                   # per meeting
    out_bps = p4["sfu_bytes_out"] * 8 / args.meetings / secs
    share = p4["cpu_packets_fraction"]
    cp_us = statistics.mean(cp_p4) / 1000
    sw_mean_us = statistics.mean(sw_ns) / 1000          # every packet, control-plane ones included
    slots = n * (n - 1)
    print(f"measured per {n}-party meeting: {pps_in:.0f} packets/s in, {p4['sfu_packets_out'] / p4['sfu_packets_in']:.2f} "
          f"out per packet in, egress {out_bps / 1e6:.2f} Mbit/s; control-plane share {share * 100:.2f}% of packets; "
          f"control core {cp_us:.1f} us per control packet; software SFU {sw_mean_us:.1f} us per input packet (mean)")
    dp_bw = TOFINO_BPS / out_bps
    dp_state = min(SLOTS / slots, STREAMS / n)
    cp_no_ra = CORES * 1e6 / (cp_us * pps_in * NO_RA_SHARE)
    cp_ra = CORES * 1e6 / (cp_us * pps_in * share)
    soft = CORES * 1e6 / (sw_mean_us * pps_in)
    without = min(dp_bw, dp_state, cp_no_ra)
    with_ra = min(dp_bw, dp_state, cp_ra)
    print(f"Tofino-class data plane: bandwidth allows {dp_bw:,.0f} meetings, state {dp_state:,.0f}; "
          f"a 32-core control plane allows {cp_no_ra:,.0f} without rate adaptation, {cp_ra:,.0f} with it")
    print(f"meetings supported: Scallop without rate adaptation {without:,.0f}, with it {with_ra:,.0f}; "
          f"32-core software SFU {soft:,.0f} (at the measured Python cost)")
    print(f"ratio Scallop / software server: without RA x{without / soft:,.1f}, with RA x{with_ra / soft:,.1f}; "
          f"break-even software cost: {CORES * 1e6 / (pps_in * with_ra):.2f} us per input packet "
          f"(a server faster than that per packet supports more meetings than the Tofino-class model)")
    free_without, free_with = min(dp_bw, cp_no_ra), min(dp_bw, cp_ra)
    print(f"if switch state were not the limit (bandwidth and control-plane CPU only): without RA {free_without:,.0f} "
          f"(x{free_without / soft:,.0f} the software server), with RA {free_with:,.0f} (x{free_with / soft:,.0f})")
    print("binding limit: " + ("state (table and register sizes)" if with_ra == dp_state else
                               "egress bandwidth" if with_ra == dp_bw else "control-plane CPU"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

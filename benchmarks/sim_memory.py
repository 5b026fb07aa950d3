"""Peak memory of a long reliable-stream transfer in the simulator: 100 MB against 1 GB.

    .venv/bin/python benchmarks/sim_memory.py [--sizes-mb 100 1000]

One StreamSender (real bytes, not the bulk source) fed by an application that writes 1 MiB
blocks whenever less than 4 MiB are unsent, Cubic over 1 Gbit/s, 20 ms each way, droptail of
one BDP, until the last byte is acknowledged. Each size runs in its own process; peak resident
memory is that process's (getrusage). The per-packet delivery record (`FlowRecord`, 20 bytes
per packet, kept for the delay percentiles) is the only state that grows with the transfer.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def transfer(size: int) -> dict:
    """Send `size` bytes reliably and report time, memory and the sender's largest buffer."""
    from netkit import fastpath
    from netkit.link import Chain, Delay, TraceLink
    from netkit.sim.engine import Simulator
    from netkit.sim.topology import two_host_path
    from netkit.trace import synth
    from netkit.transport.stream import StreamReceiver, StreamSender

    sim = Simulator(0)
    sender = StreamSender("cubic")
    receiver = StreamReceiver()
    fwd = Chain([Delay.ms(20), TraceLink(synth.constant(1000, 10), "droptail:packets=3333")])
    _, flow = two_host_path(sim, fwd, Chain([Delay.ms(20)]), sender, receiver, "stream")
    block = os.urandom(1 << 20)
    written = 0
    max_buffered = 0
    t0 = time.perf_counter()
    while sender.done_at is None:
        while written < size and sender.unsent_bytes < 4 << 20:
            sender.write(block)
            written += len(block)
            if written >= size:
                sender.close()
        sim.run(sim.now + 5_000)
        max_buffered = max(max_buffered, sender.buffered_bytes)
    wall = time.perf_counter() - t0
    return {"bytes": written, "delivered": receiver.delivered, "sim_s": sim.now / 1e6, "wall_s": wall,
            "packets": len(flow.record.arrivals_us), "max_sender_buffer_mb": max_buffered / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "build": fastpath.describe()}


def main() -> int:
    """Run each size in its own process and print one row each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1000], help="transfer sizes (10^6 bytes)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(transfer(args.worker)))
        return 0
    print(f"{'transfer':>9s} {'packets':>9s} {'sim s':>6s} {'wall s':>7s} {'max sender buffer':>18s} {'peak RSS':>9s}")
    for mb in args.sizes_mb:
        if mb <= 0:
            ap.error("--sizes-mb must be positive")
        out = subprocess.run([sys.executable, __file__, "--worker", str(mb * 10**6)], check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
        r = json.loads(out.strip().splitlines()[-1])
        assert r["delivered"] == r["bytes"]
        print(f"{mb:6d} MB {r['packets']:9,d} {r['sim_s']:6.1f} {r['wall_s']:7.1f} {r['max_sender_buffer_mb']:15.1f} MB "
              f"{r['peak_rss_mb']:6.0f} MB", flush=True)
    print(f"build: {r['build']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

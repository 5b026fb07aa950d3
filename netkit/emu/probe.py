"""One-way delay probes: `python -m netkit.emu.probe recv|send`, for checking a live path's delay.

Sender and receiver on one machine share CLOCK_MONOTONIC, even across network
namespaces, so each probe carries its send time and the receiver computes the
one-way delay directly. The receiver prints a JSON summary (count, p50/p95 ms).
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time

PROBE = struct.Struct("!QQ")  # sequence number, send time (ns, CLOCK_MONOTONIC)


def send(host: str, port: int, count: int, interval_s: float, size: int = 64) -> None:
    """Send `count` probes of `size` bytes to host:port, `interval_s` apart."""
    pad = bytes(max(size - PROBE.size, 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        for seq in range(count):
            sock.sendto(PROBE.pack(seq, time.monotonic_ns()) + pad, (host, port))
            time.sleep(max(0.0, start + (seq + 1) * interval_s - time.monotonic()))


def receive(bind: str, port: int, count: int, timeout_s: float, ready=None) -> dict:
    """Receive up to `count` probes (stop after `timeout_s` of silence); return delay percentiles in ms."""
    delays: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, port))
        sock.settimeout(timeout_s)
        if ready:
            ready()
        while len(delays) < count:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            now = time.monotonic_ns()
            if len(data) >= PROBE.size:
                delays.append((now - PROBE.unpack_from(data)[1]) / 1e6)
    delays.sort()

    def pct(q: float) -> float | None:
        return delays[min(len(delays) - 1, int(q / 100 * len(delays)))] if delays else None

    return {"count": len(delays), "p50_ms": pct(50), "p95_ms": pct(95), "max_ms": delays[-1] if delays else None}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(prog="python -m netkit.emu.probe", description=__doc__)
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("recv", help="receive probes and print delay statistics as JSON")
    r.add_argument("--bind", default="0.0.0.0")
    r.add_argument("--port", type=int, default=9000)
    r.add_argument("--count", type=int, default=100)
    r.add_argument("--timeout", type=float, default=3.0, help="stop after this many seconds without a probe")
    s = sub.add_parser("send", help="send probes")
    s.add_argument("host")
    s.add_argument("--port", type=int, default=9000)
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--interval", type=float, default=0.01, help="seconds between probes")
    s.add_argument("--size", type=int, default=64, help="payload bytes")
    args = p.parse_args(argv)
    if args.mode == "send":
        send(args.host, args.port, args.count, args.interval, args.size)
    else:
        print(json.dumps(receive(args.bind, args.port, args.count, args.timeout,
                                 ready=lambda: print("listening", file=sys.stderr, flush=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summaries of a Mahimahi-format link log (what mm-throughput-graph and mm-delay-graph read)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from netkit.link.packet import TUN_HEADER_BYTES


@dataclass
class LogSummary:
    """Capacity, delivered throughput and queueing delay of a link over a window of its log."""

    window_ms: tuple[int, int]
    capacity_mbps: float
    throughput_mbps: float  # delivered IP bytes (mm-link's size minus its 4-byte header)
    utilization: float  # delivered bytes as mm-link counts them (IP + 4) over the opportunities' bytes
    departures: int
    drops: int
    delay_ms_p50: float | None
    delay_ms_p95: float | None


def summarize_log(path: str | os.PathLike, start_ms: int = 0, end_ms: int | None = None) -> LogSummary:
    """Read a log and summarise lines with `start_ms <= t < end_ms` (end: the last event)."""
    opp_bytes = wire = ip = departures = drops = 0
    delays: list[int] = []
    last = 0
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 3:
                continue
            t = int(parts[0])
            last = max(last, t)
            if t < start_ms or (end_ms is not None and t >= end_ms):
                continue
            kind = parts[1]
            if kind == "#":
                opp_bytes += int(parts[2])
            elif kind == "-":
                size = int(parts[2])
                wire += size
                ip += size - TUN_HEADER_BYTES
                departures += 1
                delays.append(int(parts[3]))
            elif kind == "d":
                drops += int(parts[2])
    end = last + 1 if end_ms is None else end_ms
    span_s = max(end - start_ms, 1) / 1000
    delays.sort()

    def pct(q: float) -> float | None:
        return float(delays[min(len(delays) - 1, int(q / 100 * len(delays)))]) if delays else None

    return LogSummary((start_ms, end), opp_bytes * 8 / span_s / 1e6, ip * 8 / span_s / 1e6,
                      wire / opp_bytes if opp_bytes else 0.0, departures, drops, pct(50), pct(95))

"""Convert throughput logs (Pensieve/FCC, Norway HSDPA, Belgium 4G, CSV) into delivery opportunities.

A throughput log gives a rate that holds over an interval. The rate is integrated
over time and one opportunity is emitted at the millisecond in which the running
total reaches each further 1504 bytes (mm-link's opportunity size), so the trace's
capacity equals the logged throughput; bytes left over carry into the next interval.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from netkit.trace.model import OPPORTUNITY_BYTES, Trace, TraceError


def rate_segments_to_trace(
    segments: list[tuple[float, float]], source: str = "<rates>", bytes_per_opportunity: int = OPPORTUNITY_BYTES
) -> Trace:
    """Turn `(duration_ms, mbps)` segments into a trace of delivery opportunities."""
    stamps: list[int] = []
    t0 = 0.0
    total = 0.0  # bytes delivered by the rate so far
    for duration_ms, mbps in segments:
        if duration_ms > 0 and mbps > 0 and math.isfinite(mbps):
            bytes_per_ms = mbps * 1e6 / 8 / 1000
            end_total = total + bytes_per_ms * duration_ms
            k = len(stamps) + 1
            while k * bytes_per_opportunity <= end_total + 1e-6:
                stamps.append(int(t0 + (k * bytes_per_opportunity - total) / bytes_per_ms))
                k += 1
            total = end_total
        t0 += max(duration_ms, 0.0)
    end_ms = int(round(t0))
    if not stamps:
        raise TraceError(f"{source}: throughput log yields no delivery opportunities (all rates zero?)")
    if stamps[-1] < end_ms:
        # keeps a silent tail in the loop: the period must be the log's whole length
        stamps.append(end_ms)
    if stamps[-1] == 0:
        raise TraceError(f"{source}: throughput log lasts less than 1 ms")
    return Trace(tuple(stamps), source=source)


def _numbers(path: Path, min_cols: int) -> list[tuple[int, list[float]]]:
    rows = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.replace(",", " ").split()
        if len(cols) < min_cols:
            raise TraceError(f"{path}:{lineno}: expected at least {min_cols} columns, got {len(cols)}: {line.strip()!r}")
        try:
            rows.append((lineno, [float(c) for c in cols]))
        except ValueError:
            raise TraceError(f"{path}:{lineno}: expected numbers, got {line.strip()!r}") from None
    if not rows:
        raise TraceError(f"{path}: no data lines")
    return rows


def read_pensieve(path: str | os.PathLike) -> Trace:
    """Read a Pensieve/FCC cooked trace: `seconds Mbps` per line, the rate holding until the next line."""
    p = Path(path)
    rows = _numbers(p, 2)
    segments = []
    for (lineno, (t, mbps)), (_, (t_next, _)) in zip(rows, rows[1:]):
        if t_next < t:
            raise TraceError(f"{p}:{lineno}: time goes backwards ({t_next} after {t})")
        if mbps < 0:
            raise TraceError(f"{p}:{lineno}: negative throughput {mbps}")
        segments.append(((t_next - t) * 1000, mbps))
    if len(rows) == 1:
        raise TraceError(f"{p}: needs at least two lines (seconds Mbps) to span time")
    return rate_segments_to_trace(segments, source=str(p))


def read_bytes_log(path: str | os.PathLike, bytes_col: int = 4, elapsed_ms_col: int = 5) -> Trace:
    """Read a six-column Norway HSDPA / Belgium 4G log: bytes received and elapsed ms per line.

    Norway HSDPA columns are: unix time, ms since start, latitude, longitude, bytes
    received since the previous line, ms since the previous line (so 4 and 5, from 0).
    The Belgium 4G logs use the same bytes/elapsed layout; pass other column numbers
    for logs that differ.
    """
    p = Path(path)
    rows = _numbers(p, max(bytes_col, elapsed_ms_col) + 1)
    segments = []
    for lineno, cols in rows:
        nbytes, elapsed = cols[bytes_col], cols[elapsed_ms_col]
        if elapsed <= 0:
            raise TraceError(f"{p}:{lineno}: elapsed ms (column {elapsed_ms_col + 1}) must be > 0, got {elapsed}")
        if nbytes < 0:
            raise TraceError(f"{p}:{lineno}: bytes (column {bytes_col + 1}) must be >= 0, got {nbytes}")
        segments.append((elapsed, nbytes * 8 / elapsed / 1000))
    return rate_segments_to_trace(segments, source=str(p))


def read_csv_rates(path: str | os.PathLike) -> Trace:
    """Read a CSV with header columns `time_s` and `mbps` (the rate holds until the next row)."""
    p = Path(path)
    try:
        with p.open(newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"time_s", "mbps"} <= set(reader.fieldnames):
                raise TraceError(f"{p}:1: expected header columns time_s,mbps; got {reader.fieldnames}")
            rows = []
            for lineno, row in enumerate(reader, start=2):
                try:
                    rows.append((lineno, float(row["time_s"]), float(row["mbps"])))
                except (TypeError, ValueError):
                    raise TraceError(f"{p}:{lineno}: time_s and mbps must be numbers, got {row}") from None
    except OSError as exc:
        raise TraceError(f"{p}: cannot read: {exc}") from None
    if len(rows) < 2:
        raise TraceError(f"{p}: needs at least two data rows to span time")
    segments = []
    for (lineno, t, mbps), (_, t_next, _) in zip(rows, rows[1:]):
        if t_next < t:
            raise TraceError(f"{p}:{lineno + 1}: time_s goes backwards ({t_next} after {t})")
        segments.append(((t_next - t) * 1000, mbps))
    return rate_segments_to_trace(segments, source=str(p))

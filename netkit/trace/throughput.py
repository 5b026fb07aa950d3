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

from netkit.trace.model import MAX_OPPORTUNITIES, MAX_TRACE_MS, OPPORTUNITY_BYTES, Trace, TraceError


def rate_segments_to_trace(
    segments: list[tuple[float, float]], source: str = "<rates>", bytes_per_opportunity: int = OPPORTUNITY_BYTES
) -> Trace:
    """Turn `(duration_ms, mbps)` segments into a trace of delivery opportunities.

    Refused before anything is built: a non-finite or negative duration or rate, a span beyond
    `MAX_TRACE_MS`, more than `MAX_OPPORTUNITIES` opportunities (rate x duration too large).
    """
    span_ms = 0.0
    total_bytes = 0.0
    for i, (duration_ms, mbps) in enumerate(segments, start=1):
        if not (math.isfinite(duration_ms) and math.isfinite(mbps)) or duration_ms < 0 or mbps < 0:
            raise TraceError(f"{source}: segment {i}: expected a duration >= 0 ms and a rate >= 0 Mbit/s, "
                             f"got {duration_ms:g} ms at {mbps:g} Mbit/s")
        span_ms += duration_ms
        total_bytes += mbps * 1e6 / 8 / 1000 * duration_ms
    if span_ms > MAX_TRACE_MS:
        raise TraceError(f"{source}: lasts {span_ms / 1000:g} s; the limit is {MAX_TRACE_MS // 1000} s (one day)")
    if total_bytes / bytes_per_opportunity > MAX_OPPORTUNITIES:
        raise TraceError(f"{source}: rate x duration makes {total_bytes / bytes_per_opportunity:.3g} delivery "
                         f"opportunities; the limit is {MAX_OPPORTUNITIES} (e.g. 1 Gbit/s for 120 s)")
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
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.replace(",", " ").split()
        if len(cols) < min_cols:
            raise TraceError(f"{path}:{lineno}: expected at least {min_cols} columns, got {len(cols)}: {line.strip()!r}")
        try:
            values = [float(c) for c in cols]
        except ValueError:
            raise TraceError(f"{path}:{lineno}: expected numbers, got {line.strip()[:80]!r}") from None
        if not all(math.isfinite(x) for x in values):
            raise TraceError(f"{path}:{lineno}: expected finite numbers, got {line.strip()[:80]!r}")
        rows.append((lineno, values))
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
            raise TraceError(f"{p}:{lineno}: expected a throughput >= 0 Mbit/s, got {mbps:g}")
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
                    t, mbps = float(row["time_s"]), float(row["mbps"])
                except (TypeError, ValueError):
                    raise TraceError(f"{p}:{lineno}: time_s and mbps must be numbers, got {row}") from None
                if not (math.isfinite(t) and math.isfinite(mbps)) or mbps < 0:
                    raise TraceError(f"{p}:{lineno}: expected a finite time_s and a finite mbps >= 0, "
                                     f"got time_s={t:g}, mbps={mbps:g}")
                rows.append((lineno, t, mbps))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TraceError(f"{p}: cannot read: {exc}") from None
    if len(rows) < 2:
        raise TraceError(f"{p}: needs at least two data rows to span time")
    segments = []
    for (lineno, t, mbps), (_, t_next, _) in zip(rows, rows[1:]):
        if t_next < t:
            raise TraceError(f"{p}:{lineno + 1}: time_s goes backwards ({t_next} after {t})")
        segments.append(((t_next - t) * 1000, mbps))
    return rate_segments_to_trace(segments, source=str(p))

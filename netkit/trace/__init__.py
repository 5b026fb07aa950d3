"""Traces: Mahimahi format, throughput-log converters, synthetic generators, statistics."""
from netkit.trace.model import OPPORTUNITY_BYTES, Trace, TraceError
from netkit.trace.mahimahi import parse_mahimahi, read_mahimahi, write_mahimahi
from netkit.trace.throughput import read_bytes_log, read_csv_rates, read_pensieve, rate_segments_to_trace
from netkit.trace.stats import TraceStats, trace_stats, windowed_rates_mbps
from netkit.trace import synth

FORMATS = ("mahimahi", "pensieve", "norway", "belgium", "csv")


def load_trace(path: str, fmt: str = "auto") -> Trace:
    """Load a trace of any supported format; `auto` picks by content (one integer per line: Mahimahi)."""
    if fmt == "auto":
        fmt = sniff_format(path)
    if fmt == "mahimahi":
        return read_mahimahi(path)
    if fmt == "pensieve":
        return read_pensieve(path)
    if fmt in ("norway", "belgium"):
        return read_bytes_log(path)
    if fmt == "csv":
        return read_csv_rates(path)
    raise TraceError(f"{path}: unknown trace format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")


def sniff_format(path: str) -> str:
    """Guess a trace file's format from its first data line."""
    try:
        with open(path) as f:
            first = next((ln for ln in f if ln.strip() and not ln.startswith("#")), "")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read trace: {exc}") from None
    cols = first.replace(",", " ").split()
    if "time_s" in first:
        return "csv"
    if len(cols) >= 6:
        return "norway"
    if len(cols) == 2:
        return "pensieve"
    return "mahimahi"


__all__ = [
    "OPPORTUNITY_BYTES", "Trace", "TraceError", "TraceStats", "parse_mahimahi", "read_mahimahi",
    "write_mahimahi", "read_bytes_log", "read_csv_rates", "read_pensieve", "rate_segments_to_trace",
    "trace_stats", "windowed_rates_mbps", "synth", "load_trace", "sniff_format", "FORMATS",
]

"""Read and write Mahimahi trace files with mm-link's exact validation."""
from __future__ import annotations

import os
from pathlib import Path

from netkit.files import atomic_write_text

from netkit.trace.model import MAX_OPPORTUNITIES, MAX_TRACE_MS, Trace, TraceError


def parse_mahimahi(text: str, source: str = "<string>") -> Trace:
    """Parse trace text: one millisecond timestamp per line, as mm-link reads it.

    Like mm-link (which reads with getline), a final newline is allowed but any empty
    line, including a blank line at the end, is an error naming its line number.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line, not an empty line
    stamps: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            raise TraceError(f"{source}:{lineno}: invalid empty line")
        try:
            ms = int(stripped)
        except ValueError:
            raise TraceError(
                f"{source}:{lineno}: expected a millisecond timestamp (non-negative integer), got {stripped!r}"
            ) from None
        if ms < 0:
            raise TraceError(f"{source}:{lineno}: timestamp must be non-negative, got {ms}")
        if ms > MAX_TRACE_MS:
            raise TraceError(f"{source}:{lineno}: timestamp {stripped[:30]} ms is beyond the limit of "
                             f"{MAX_TRACE_MS} ms (one day)")
        if lineno > MAX_OPPORTUNITIES:
            raise TraceError(f"{source}:{lineno}: more than {MAX_OPPORTUNITIES} delivery opportunities (the limit)")
        if stamps and ms < stamps[-1]:
            raise TraceError(
                f"{source}:{lineno}: timestamps must be monotonically nondecreasing ({ms} after {stamps[-1]})"
            )
        stamps.append(ms)
    if not stamps:
        raise TraceError(f"{source}: no valid timestamps found (the trace is empty)")
    if stamps[-1] == 0:
        raise TraceError(f"{source}:{len(stamps)}: trace must last for a nonzero amount of time (last timestamp is 0)")
    return Trace(tuple(stamps), source=source)


def read_mahimahi(path: str | os.PathLike) -> Trace:
    """Load a Mahimahi trace file; errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise TraceError(f"{p}: no such trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read trace: {exc}") from None
    return parse_mahimahi(text, source=str(p))


def write_mahimahi(trace: Trace, path: str | os.PathLike) -> None:
    """Write a trace in Mahimahi format (one timestamp per line), atomically."""
    atomic_write_text(path, "".join(f"{t}\n" for t in trace.timestamps))

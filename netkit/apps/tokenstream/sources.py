"""Token sources: a seeded synthetic generator and timing-trace files of inter-token gaps.

A timing trace is a text file with one token per line: the gap in milliseconds since
the previous token (for the first line: since the request reached the server),
optionally followed by the token's text as a JSON string. Blank lines and lines
starting with `#` are ignored. Example::

    # gap_ms  token
    212.5 "Hello"
    31.0 ","
    29.8 " world"

Lines without text get seeded synthetic text, so a trace of timing alone is enough.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

from netkit.apps.tokenstream.tokens import MAX_TOKEN_BYTES, TokenSchedule
from netkit.files import atomic_write_text

# Word pieces with the length spread of BPE tokens of English text (about 4 bytes on average).
_PIECES = (
    " the", " a", " of", " to", " and", " in", " is", " that", " it", " for", " on", " with", " as",
    " packet", " network", " model", " token", " stream", " loss", " delay", " link", " user", " server",
    " send", " receive", " time", " rate", " each", " when", " which", " can", " will", " more",
    "ing", "ed", "s", "ly", "er", "tion", ",", ".", " (", ")", ":", "\n", " we", " you", " this",
    " retrans", "mission", " ack", "now", "ledge", " render", " chat", "bot", " response", " answer",
)


class TokenTraceError(ValueError):
    """A timing trace line that cannot be parsed; the message names file and line."""


def synthetic_text(n: int, seed: int) -> list[bytes]:
    """`n` seeded English-like tokens (UTF-8 bytes)."""
    rng = random.Random(f"tokenstream-text:{seed}")
    return [rng.choice(_PIECES).encode() for _ in range(n)]


def synthetic(n_tokens: int = 300, rate_tps: float = 30.0, jitter_ms: float = 10.0, first_token_ms: float = 0.0,
              seed: int = 0) -> TokenSchedule:
    """`n_tokens` tokens at `rate_tps` tokens/s on average.

    Gaps are drawn as max(0, N(1000 / rate_tps, jitter_ms)) milliseconds from a
    random stream seeded by `seed`; the first token is generated `first_token_ms`
    after the request.
    """
    if n_tokens < 1:
        raise ValueError(f"synthetic source needs at least 1 token, got {n_tokens}")
    if not rate_tps > 0:
        raise ValueError(f"token rate must be > 0 tokens/s, got {rate_tps}")
    if jitter_ms < 0 or first_token_ms < 0:
        raise ValueError("jitter and first-token time must be >= 0 ms")
    rng = random.Random(f"tokenstream-gaps:{seed}")
    mean_ms = 1000.0 / rate_tps
    t_ms = first_token_ms
    offsets = []
    for i in range(n_tokens):
        if i:
            t_ms += max(0.0, rng.gauss(mean_ms, jitter_ms))
        offsets.append(round(t_ms * 1000))
    return TokenSchedule(tuple(offsets), tuple(synthetic_text(n_tokens, seed)))


def read_timing_trace(path: str | os.PathLike, seed: int = 0) -> TokenSchedule:
    """Load a timing trace file (format in the module docstring)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TokenTraceError(f"{path}: no such token timing trace") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenTraceError(f"{path}: not a token timing trace (cannot read it as text: {exc})") from None
    gaps: list[float] = []
    texts: list[bytes | None] = []
    for no, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(" ")
        try:
            gap = float(head)
        except ValueError:
            raise TokenTraceError(f"{path}:{no}: expected a gap in ms, got {head!r}") from None
        if not 0 <= gap < float("inf"):
            raise TokenTraceError(f"{path}:{no}: gap must be a finite number of ms >= 0, got {gap}")
        text = None
        rest = rest.strip()
        if rest:
            try:
                value = json.loads(rest)
            except json.JSONDecodeError:
                raise TokenTraceError(f"{path}:{no}: token text must be a JSON string, got {rest!r}") from None
            if not isinstance(value, str):
                raise TokenTraceError(f"{path}:{no}: token text must be a JSON string, got {rest!r}")
            text = value.encode("utf-8")
            if len(text) > MAX_TOKEN_BYTES:
                raise TokenTraceError(f"{path}:{no}: token is {len(text)} bytes; at most {MAX_TOKEN_BYTES}")
        gaps.append(gap)
        texts.append(text)
    if not gaps:
        raise TokenTraceError(f"{path}: no tokens in timing trace")
    filler = synthetic_text(len(gaps), seed)
    offsets, t_ms = [], 0.0
    for g in gaps:
        t_ms += g
        offsets.append(round(t_ms * 1000))
    tokens = tuple(t if t is not None else filler[i] for i, t in enumerate(texts))
    return TokenSchedule(tuple(offsets), tokens)


def write_timing_trace(path: str | os.PathLike, schedule: TokenSchedule, comment: str = "") -> None:
    """Save a schedule as a timing trace (gaps in ms with the token texts), via a temporary name."""
    path = Path(path)
    out = [f"# {line}" for line in comment.splitlines()] + ["# gap_ms token"]
    prev = 0
    for t, tok in zip(schedule.offsets_us, schedule.tokens):
        out.append(f"{(t - prev) / 1000:.3f} {json.dumps(tok.decode('utf-8', errors='replace'))}")
        prev = t
    atomic_write_text(path, "\n".join(out) + "\n")

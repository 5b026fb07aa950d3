"""`TokenSchedule`: the tokens of one response and when the server generated each of them."""
from __future__ import annotations

from dataclasses import dataclass

# A token's text travels with a one-byte length, so one token is at most this many UTF-8 bytes.
MAX_TOKEN_BYTES = 255


@dataclass(frozen=True)
class TokenSchedule:
    """Token texts (UTF-8 bytes) and their generation offsets (µs after the request reached the server).

    Offsets are non-decreasing; several tokens may share one offset (a server that
    emits a group of tokens at once).
    """

    offsets_us: tuple[int, ...]
    tokens: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.offsets_us) != len(self.tokens):
            raise ValueError(f"schedule has {len(self.offsets_us)} times for {len(self.tokens)} tokens")
        if not self.tokens:
            raise ValueError("schedule has no tokens")
        prev = 0
        for i, (t, tok) in enumerate(zip(self.offsets_us, self.tokens)):
            if t < prev:
                raise ValueError(f"token {i}: generation time {t} µs is before the previous token's {prev} µs")
            if len(tok) > MAX_TOKEN_BYTES:
                raise ValueError(f"token {i} is {len(tok)} bytes; at most {MAX_TOKEN_BYTES} fit its length field")
            prev = t

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def token_bytes(self) -> int:
        """Total UTF-8 bytes of all token texts (the denominator of the bytes overhead)."""
        return sum(len(t) for t in self.tokens)

    @property
    def duration_us(self) -> int:
        """Generation time of the last token."""
        return self.offsets_us[-1]

    @property
    def text(self) -> str:
        """The whole response as text."""
        return b"".join(self.tokens).decode("utf-8", errors="replace")

    def head(self, n: int) -> "TokenSchedule":
        """The first `n` tokens."""
        return TokenSchedule(self.offsets_us[:n], self.tokens[:n])

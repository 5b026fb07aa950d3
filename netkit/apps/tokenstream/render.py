"""What a client shows: the log of rendered tokens, and the in-order assembler that feeds it."""
from __future__ import annotations

from typing import Callable

RenderCallback = Callable[[int, bytes, int], None]


class RenderLog:
    """Every render event, as it happened: (token index, time µs) and the token texts.

    The log records faithfully and never de-duplicates, so tests can check that a
    receiver rendered each token exactly once and in order.
    """

    def __init__(self, on_render: RenderCallback | None = None) -> None:
        self.events: list[tuple[int, int]] = []
        self.texts: list[bytes] = []
        self.on_render = on_render

    def render(self, index: int, text: bytes, now: int) -> None:
        """Show token `index` at `now`."""
        self.events.append((index, now))
        self.texts.append(text)
        if self.on_render is not None:
            self.on_render(index, text, now)

    def times_by_index(self, n: int) -> list[int | None]:
        """Render time of each of the first `n` tokens (None: never rendered; first render wins)."""
        out: list[int | None] = [None] * n
        for i, t in self.events:
            if 0 <= i < n and out[i] is None:
                out[i] = t
        return out

    @property
    def text(self) -> str:
        """Everything rendered, concatenated."""
        return b"".join(self.texts).decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return len(self.events)


class InOrderAssembler:
    """Holds tokens by index and renders each as soon as every earlier token is present."""

    def __init__(self, log: RenderLog) -> None:
        self.log = log
        self.next_index = 0  # tokens below this are rendered
        self._held: dict[int, bytes] = {}

    def add(self, index: int, text: bytes, now: int) -> bool:
        """Take a token; render it and any held successors if it completes the prefix. True if it was new."""
        if index < self.next_index or index in self._held:
            return False
        self._held[index] = text
        held = self._held
        while self.next_index in held:
            self.log.render(self.next_index, held.pop(self.next_index), now)
            self.next_index += 1
        return True

    def held_ranges(self) -> list[tuple[int, int]]:
        """Inclusive ranges of tokens held above the rendered prefix, ascending."""
        ranges: list[list[int]] = []
        for i in sorted(self._held):
            if ranges and ranges[-1][1] + 1 == i:
                ranges[-1][1] = i
            else:
                ranges.append([i, i])
        return [(a, b) for a, b in ranges]

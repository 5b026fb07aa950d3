"""`Chain`: link elements in series, itself a link element (like nesting Mahimahi shells)."""
from __future__ import annotations

from typing import Callable

from netkit.link.element import LinkElement
from netkit.link.packet import Packet

DropCallback = Callable[[Packet, int], None]


class Chain:
    """Feeds each element's output into the next; the first element sees packets first."""

    def __init__(self, elements: list[LinkElement]) -> None:
        self.elements = list(elements)
        self._wire: list[tuple[int, Packet]] = []
        self._on_drop: DropCallback | None = None

    @property
    def on_drop(self) -> DropCallback | None:
        """The drop callback shared by every element of the chain."""
        return self._on_drop

    @on_drop.setter
    def on_drop(self, callback: DropCallback | None) -> None:
        self._on_drop = callback
        for el in self.elements:
            if hasattr(el, "on_drop"):
                el.on_drop = callback

    def enqueue(self, pkt: Packet, now: int) -> None:
        """Hand `pkt` to the first element (an empty chain is a wire: packets leave at once)."""
        if self.elements:
            self.elements[0].enqueue(pkt, now)
        else:
            self._wire.append((now, pkt))

    def next_time(self) -> int | None:
        """Earliest time any element in the chain has something to release."""
        if not self.elements:
            return self._wire[0][0] if self._wire else None
        best = None
        for el in self.elements:
            t = el.next_time()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def dequeue(self, now: int) -> list[tuple[int, Packet]]:
        """Step every element up to `now`, passing packets along at their release times."""
        if not self.elements:
            out, self._wire = self._wire, []
            return out
        last = len(self.elements) - 1
        out = []
        for i, el in enumerate(self.elements):
            released = el.dequeue(now)
            if i == last:
                out = released
            else:
                nxt = self.elements[i + 1]
                for t, pkt in released:
                    nxt.enqueue(pkt, t)
        return out


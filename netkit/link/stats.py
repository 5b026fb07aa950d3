"""Packet and byte counters every link element keeps."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ElementStats:
    """Counts of what entered, left and was dropped by an element (bytes as IP lengths)."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    packets_dropped: int = 0
    bytes_dropped: int = 0

    def as_dict(self) -> dict:
        """The counters as a JSON-ready dict."""
        return asdict(self)

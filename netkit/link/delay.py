"""`Delay`: a fixed one-way propagation delay, like mm-delay."""
from __future__ import annotations

from collections import deque

from netkit.link.log import LinkLog
from netkit.link.packet import TUN_HEADER_BYTES, Packet, mypyc_attr
from netkit.link.stats import ElementStats


@mypyc_attr(allow_interpreted_subclasses=True)
class Delay:
    """Holds every packet for exactly `delay_us` microseconds, in FIFO order."""

    def __init__(self, delay_us: int, log: LinkLog | None = None) -> None:
        if delay_us < 0:
            raise ValueError(f"delay must be >= 0 µs, got {delay_us}")
        self.delay_us = int(delay_us)
        self.log = log
        self.stats = ElementStats()
        self._held: deque[tuple[int, Packet]] = deque()

    @classmethod
    def ms(cls, delay_ms: float, log: LinkLog | None = None) -> "Delay":
        """A delay given in milliseconds."""
        return cls(round(delay_ms * 1000), log)

    def enqueue(self, pkt: Packet, now: int) -> None:
        """Hold `pkt` until `now + delay`."""
        self.stats.packets_in += 1
        self.stats.bytes_in += pkt.size
        pkt.arrival = now
        if self.log:
            self.log.arrival(now // 1000, pkt.size + TUN_HEADER_BYTES)
        self._held.append((now + self.delay_us, pkt))

    def next_time(self) -> int | None:
        """Release time of the oldest held packet."""
        return self._held[0][0] if self._held else None

    def dequeue(self, now: int) -> list[tuple[int, Packet]]:
        """Release the packets whose delay has elapsed by `now`."""
        held = self._held
        out = []
        while held and held[0][0] <= now:
            t, pkt = held.popleft()
            out.append((t, pkt))
        if out:
            st = self.stats
            st.packets_out += len(out)
            st.bytes_out += sum(p.size for _, p in out)
            if self.log:
                for t, p in out:
                    self.log.departure(t // 1000, p.size + TUN_HEADER_BYTES, (t - p.arrival) // 1000)
        return out

    @property
    def queued_bytes(self) -> int:
        """Bytes (IP lengths) held."""
        return sum(p.size for _, p in self._held)

"""Random loss elements, seeded: Bernoulli (like mm-loss) and Gilbert-Elliott bursts."""
from __future__ import annotations

import random

from typing import Callable

from netkit.link.log import LinkLog
from netkit.link.packet import TUN_HEADER_BYTES, Packet
from netkit.link.stats import ElementStats


class _LossElement:
    """Passes packets through instantly unless `_lose()` says to drop them."""

    def __init__(self, seed: int, log: LinkLog | None) -> None:
        self.rng = random.Random(seed)
        self.log = log
        self.stats = ElementStats()
        self._out: list[tuple[int, Packet]] = []
        self.on_drop: Callable[[Packet, int], None] | None = None

    def _lose(self) -> bool:
        raise NotImplementedError

    def enqueue(self, pkt: Packet, now: int) -> None:
        """Drop `pkt` or pass it on at `now`."""
        st = self.stats
        st.packets_in += 1
        st.bytes_in += pkt.size
        if self.log:
            self.log.arrival(now // 1000, pkt.size + TUN_HEADER_BYTES)
        if self._lose():
            st.packets_dropped += 1
            st.bytes_dropped += pkt.size
            if self.log:
                self.log.drop(now // 1000, 1, pkt.size + TUN_HEADER_BYTES)
            if self.on_drop is not None:
                self.on_drop(pkt, now)
            return
        st.packets_out += 1
        st.bytes_out += pkt.size
        if self.log:
            self.log.departure(now // 1000, pkt.size + TUN_HEADER_BYTES, 0)
        self._out.append((now, pkt))

    def next_time(self) -> int | None:
        """Packets that survived leave at their arrival time."""
        return self._out[0][0] if self._out else None

    def dequeue(self, now: int) -> list[tuple[int, Packet]]:
        """Hand over the packets that survived."""
        out, self._out = self._out, []
        return out

    queued_bytes = 0


class BernoulliLoss(_LossElement):
    """Drops each packet independently with probability `p`."""

    def __init__(self, p: float, seed: int = 0, log: LinkLog | None = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"loss probability must be in [0, 1], got {p}")
        super().__init__(seed, log)
        self.p = p

    def _lose(self) -> bool:
        return self.p > 0 and self.rng.random() < self.p


class GilbertElliottLoss(_LossElement):
    """Two-state burst loss: Good/Bad states with per-packet transitions and per-state loss rates.

    `p_gb` is P(Good->Bad) and `p_bg` is P(Bad->Good) per packet; a packet is lost
    with `loss_good` in Good and `loss_bad` in Bad. The stationary loss rate is
    `(p_bg*loss_good + p_gb*loss_bad) / (p_gb + p_bg)`.
    """

    def __init__(
        self, p_gb: float, p_bg: float, loss_good: float = 0.0, loss_bad: float = 1.0,
        seed: int = 0, log: LinkLog | None = None,
    ) -> None:
        for name, v in (("p_gb", p_gb), ("p_bg", p_bg), ("loss_good", loss_good), ("loss_bad", loss_bad)):
            if not 0 <= v <= 1:
                raise ValueError(f"Gilbert-Elliott {name} must be in [0, 1], got {v}")
        if p_gb + p_bg == 0:
            raise ValueError("Gilbert-Elliott needs p_gb + p_bg > 0")
        super().__init__(seed, log)
        self.p_gb, self.p_bg, self.loss_good, self.loss_bad = p_gb, p_bg, loss_good, loss_bad
        self.bad = False

    @classmethod
    def from_rate(cls, loss_rate: float, mean_burst: float = 3.0, seed: int = 0, log: LinkLog | None = None):
        """Bursts of mean length `mean_burst` packets (all lost) with stationary loss rate `loss_rate`."""
        if not 0 <= loss_rate < 1:
            raise ValueError(f"loss rate must be in [0, 1), got {loss_rate}")
        if mean_burst < 1:
            raise ValueError(f"mean burst length must be >= 1 packet, got {mean_burst}")
        p_bg = 1 / mean_burst
        p_gb = loss_rate * p_bg / (1 - loss_rate) if loss_rate > 0 else 0.0
        if p_gb == 0:
            return cls(0.0, 1.0, 0.0, 1.0, seed, log)
        return cls(p_gb, p_bg, 0.0, 1.0, seed, log)

    @property
    def stationary_loss(self) -> float:
        """The long-run loss rate these parameters give."""
        return (self.p_bg * self.loss_good + self.p_gb * self.loss_bad) / (self.p_gb + self.p_bg)

    def _lose(self) -> bool:
        rng = self.rng
        if self.bad:
            if rng.random() < self.p_bg:
                self.bad = False
        elif rng.random() < self.p_gb:
            self.bad = True
        return rng.random() < (self.loss_bad if self.bad else self.loss_good)

"""On/off bursts of an unresponsive sender (`swiftqueue-onoff`): the L4S cross traffic that makes the L queue move.

Constant-bit-rate datagrams during "on" periods, silence during "off" periods; the
lengths of both are exponential with the given means, drawn from the app's seed.
With ECT(1) the bursts land in DualPI2's L queue and, when they exceed the link's
rate, build an L-queue backlog that the step marker cannot shed (the sender ignores
marks): the moments when the C queue is the faster one.
"""
from __future__ import annotations

import random

from netkit import validate as v
from netkit.experiment.app import App, FlowPlan, Param
from netkit.sim.metrics import summarize_flow
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram
from netkit.transport.datagram import CBR_HEADER, CbrReceiver

_ECN = {"not-ect": 0, "ect1": 1, "ect0": 2}


class OnOffSender:
    """CBR while on, nothing while off (sans-I/O)."""

    def __init__(self, rate_mbps: float, on_ms: float, off_ms: float, rng: random.Random, ecn: int = 1,
                 payload: int = MAX_DATAGRAM_PAYLOAD) -> None:
        self.interval_us = (payload + 28) * 8 / rate_mbps
        self.on_us = on_ms * 1000
        self.off_us = off_ms * 1000
        self.rng = rng
        self.ecn = ecn
        self._pad = bytes(payload - CBR_HEADER.size)
        self.seq = 0
        self._on_until = 0.0
        self._next = self.rng.expovariate(1 / self.off_us)  # begin with an off period
        self._start_burst(self._next)

    def _start_burst(self, t: float) -> None:
        self._on_until = t + self.rng.expovariate(1 / self.on_us)

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Feedback is ignored (unresponsive)."""

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Every packet whose slot has come."""
        out = []
        while self._next <= now:
            out.append(Datagram(CBR_HEADER.pack(self.seq, now) + self._pad, self.ecn))
            self.seq += 1
            self._next += self.interval_us
            if self._next >= self._on_until:
                self._next = self._on_until + self.rng.expovariate(1 / self.off_us)
                self._start_burst(self._next)
        return out

    def get_timer(self) -> int | None:
        """The next packet's slot."""
        return int(self._next) + 1

    def handle_timer(self, now: int) -> None:
        """Nothing beyond what datagrams_to_send does."""


class OnOffApp(App):
    """Unresponsive on/off bursts (see the module docstring)."""

    name = "swiftqueue-onoff"
    help = "on/off bursts of unresponsive datagrams (default ECT(1): L4S cross traffic)"
    params = (
        Param("rate_mbps", "float", 12.0, "rate while on", maximum=v.MAX_RATE_MBPS, minimum=0.0, min_exclusive=True),
        Param("on_ms", "float", 150.0, "mean burst length", maximum=v.MAX_DELAY_MS, minimum=0.0, min_exclusive=True),
        Param("off_ms", "float", 1000.0, "mean gap between bursts", maximum=v.MAX_DELAY_MS, minimum=0.0, min_exclusive=True),
        Param("ecn", "choice", "ect1", "ECN codepoint", choices=tuple(_ECN)),
    )

    def flows(self) -> list[FlowPlan]:
        p = self.p
        snd = OnOffSender(p["rate_mbps"], p["on_ms"], p["off_ms"], self.ctx.rng("onoff"), _ECN[p["ecn"]])
        return [FlowPlan(snd, CbrReceiver(), f"onoff:{p['rate_mbps']:g}")]

    def metrics(self) -> dict[str, float]:
        s = summarize_flow(self.ctx.records[0], self.ctx.warmup_us, self.ctx.end_us)
        return {k: s[k] for k in ("throughput_mbps", "delay_ms_p99", "loss_rate")}

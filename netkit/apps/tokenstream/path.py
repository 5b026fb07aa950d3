"""The network path a token stream crosses, built like nested Mahimahi shells: delay -> loss -> trace link."""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.tracelink import TraceLink
from netkit.trace import Trace, load_trace, synth

CONSTANT_TRACE = "constant:12"  # a 12 Mbit/s Mahimahi-style link (one opportunity per ms)
LOSS_MODELS = ("bernoulli", "ge")


@dataclass(frozen=True)
class PathConfig:
    """One path: downlink trace, one-way delay each way, downlink loss (the uplink carries ACKs without loss).

    `trace` is a trace file or `constant:MBPS`; `uplink` likewise, or None for no
    rate limit on the ACK path. `loss_model` is `bernoulli` or `ge` (Gilbert-Elliott
    bursts of mean `burst` packets, all lost).
    """

    trace: str = CONSTANT_TRACE
    delay_ms: float = 50.0
    loss: float = 0.0
    loss_model: str = "bernoulli"
    burst: float = 3.0
    uplink: str | None = None
    queue: str | None = None

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.delay_ms < 0:
            raise ValueError(f"delay must be >= 0 ms, got {self.delay_ms}")
        if not 0 <= self.loss < 1:
            raise ValueError(f"loss must be a probability in [0, 1), got {self.loss}")
        if self.loss_model not in LOSS_MODELS:
            raise ValueError(f"loss model must be one of {', '.join(LOSS_MODELS)}, got {self.loss_model!r}")
        if self.burst < 1:
            raise ValueError(f"mean loss burst must be >= 1 packet, got {self.burst}")

    @property
    def label(self) -> str:
        """Short name of the trace (file name or constant:MBPS)."""
        return self.trace.rsplit("/", 1)[-1]


@lru_cache(maxsize=16)
def get_trace(spec: str) -> Trace:
    """Load a trace file, or build `constant:MBPS` (cached: sweeps reuse a few traces many times)."""
    if spec.startswith("constant:"):
        try:
            mbps = float(spec.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"trace {spec!r}: expected constant:MBPS with a number") from None
        return synth.constant(mbps, 1.0)
    return load_trace(spec)


def loss_element(cfg: PathConfig, seed: int):
    """The downlink loss element of `cfg`, seeded, or None without loss."""
    if not cfg.loss:
        return None
    if cfg.loss_model == "ge":
        return GilbertElliottLoss.from_rate(cfg.loss, cfg.burst, seed=seed)
    return BernoulliLoss(cfg.loss, seed=seed)


def build_direction(cfg: PathConfig, downlink: bool, seed: int) -> Chain:
    """The chain of one direction: Delay, then loss (downlink only), then the trace link."""
    elements = []
    if cfg.delay_ms:
        elements.append(Delay.ms(cfg.delay_ms))
    if downlink:
        loss = loss_element(cfg, seed)
        if loss is not None:
            elements.append(loss)
        elements.append(TraceLink(get_trace(cfg.trace), cfg.queue))
    elif cfg.uplink:
        elements.append(TraceLink(get_trace(cfg.uplink)))
    return Chain(elements)


def trace_offset_us(cfg: PathConfig, seed: int, span_us: int) -> int:
    """A seeded start time within the downlink trace, so seeds sample different stretches of it."""
    period_us = get_trace(cfg.trace).period_ms * 1000
    room = period_us - span_us
    if room <= 0 or cfg.trace.startswith("constant:"):
        return 0
    return random.Random(f"tokenstream-offset:{seed}:{cfg.trace}").randrange(0, room, 1000)

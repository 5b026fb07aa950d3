"""What a live link does in each direction (trace, queue, delay, loss, log), as plain data.

A `LinkSpec` crosses the process boundary as JSON and is turned into the very
same `netkit.link` element chains the simulator uses, in the same order as
`netkit replay` builds them (outermost Mahimahi shell first): Delay, loss, then
the TraceLink with its queue.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.log import LinkLog
from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.queues import make_queue
from netkit.link.tracelink import TraceLink


@dataclass
class DirectionSpec:
    """One direction: optional trace (path) with its queue, one-way delay, random loss, and a log path."""

    trace: str | None = None
    queue: str | None = None
    delay_ms: float = 0.0
    loss: float = 0.0
    loss_model: str = "bernoulli"  # or "ge" (Gilbert-Elliott bursts of mean length loss_burst)
    loss_burst: float = 3.0
    seed: int = 0
    log: str | None = None
    log_header: list[str] = field(default_factory=list)

    def validate(self, name: str) -> None:
        """Raise ValueError naming the direction and the option that cannot be used."""
        if self.delay_ms < 0:
            raise ValueError(f"{name}: delay must be >= 0 ms, got {self.delay_ms}")
        if not 0 <= self.loss < 1:
            raise ValueError(f"{name}: loss must be a probability in [0, 1), got {self.loss}")
        if self.loss_model not in ("bernoulli", "ge"):
            raise ValueError(f"{name}: loss model must be bernoulli or ge, got {self.loss_model!r}")
        if self.queue is not None:
            make_queue(self.queue)
        if self.trace is not None:
            from netkit.trace import load_trace

            load_trace(self.trace)

    def build(self) -> tuple[Chain, list[LinkLog]]:
        """The element chain for this direction, and the logs it writes (to close at the end)."""
        elements = []
        logs: list[LinkLog] = []
        if self.delay_ms:
            elements.append(Delay.ms(self.delay_ms))
        if self.loss:
            if self.loss_model == "ge":
                elements.append(GilbertElliottLoss.from_rate(self.loss, self.loss_burst, seed=self.seed))
            else:
                elements.append(BernoulliLoss(self.loss, seed=self.seed))
        if self.trace is not None:
            from netkit.trace import load_trace

            log = LinkLog(self.log, self.log_header) if self.log else None
            if log:
                logs.append(log)
            elements.append(TraceLink(load_trace(self.trace), self.queue, log=log))
        return Chain(elements), logs


@dataclass
class LinkSpec:
    """Both directions of a link. Downlink carries packets into the inner side (mm-link's naming)."""

    downlink: DirectionSpec = field(default_factory=DirectionSpec)
    uplink: DirectionSpec = field(default_factory=DirectionSpec)

    @classmethod
    def from_options(
        cls, trace: str | None = None, uplink: str | None = None, delay_ms: float = 0.0, loss: float = 0.0,
        uplink_loss: float = 0.0, queue: str | None = None, uplink_queue: str | None = None,
        loss_model: str = "bernoulli", loss_burst: float = 3.0, seed: int = 0, log_dir: str | None = None,
        command: str = "netkit",
    ) -> "LinkSpec":
        """Like Mahimahi's shells: delay both ways, loss and trace per direction, logs as `log_dir/{down,up}link.log`.

        Seeds follow `netkit replay` (2*seed+1 downlink, 2*seed+2 uplink), so a
        loss pattern is the same in both modes.
        """
        def one(name: str, tr: str | None, q: str | None, p: float, s: int) -> DirectionSpec:
            log = f"{log_dir}/{name}.log" if log_dir and tr else None
            header = log_header(name, tr, q, command) if log else []
            return DirectionSpec(tr, q, delay_ms, p, loss_model, loss_burst, s, log, header)

        spec = cls(one("downlink", trace, queue, loss, 2 * seed + 1), one("uplink", uplink, uplink_queue,
                                                                         uplink_loss, 2 * seed + 2))
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise ValueError for the first unusable option."""
        self.downlink.validate("downlink")
        self.uplink.validate("uplink")

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "LinkSpec":
        """Rebuild a spec from `asdict` output."""
        return cls(DirectionSpec(**data["downlink"]), DirectionSpec(**data["uplink"]))


def log_header(direction: str, trace: str | None, queue: str | None, command: str) -> list[str]:
    """Header lines of a Mahimahi-format link log, as mm-link writes them."""
    return [
        f"mahimahi mm-link ({direction}) [{trace}] > {direction}.log (written by netkit live link)",
        f"command line: {command}",
        f"queue: {make_queue(queue).describe()}",
        "init timestamp: 0",
        "base timestamp: 0",
    ]

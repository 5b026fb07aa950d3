"""Run one token stream of one scheme over one path in the simulator."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from netkit.apps.tokenstream.feeder import ScheduledSender
from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.path import PathConfig, build_direction, trace_offset_us
from netkit.apps.tokenstream.schemes import make_endpoints
from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit.sim.engine import Simulator
from netkit.sim.topology import Network

TAIL_US = 30_000_000  # simulated time allowed after the last token for recovery


@dataclass
class StreamRun:
    """One finished run: its metrics, the endpoints (for inspection) and generation/render times."""

    scheme: str
    seed: int
    path: PathConfig
    metrics: dict
    sender: Any
    receiver: Any
    gen_us: list[int]
    render_us: list[int | None]

    def row(self) -> dict:
        """A flat JSON-able record of the run."""
        return {"scheme": self.scheme, "seed": self.seed, **asdict(self.path), **self.metrics}


def simulate(scheme: str, schedule: TokenSchedule, path: PathConfig, seed: int = 0, copies: int = 2,
             start_us: int | None = None, endpoints: tuple[Any, Any] | None = None) -> StreamRun:
    """Stream `schedule` with `scheme` over `path`; loss and trace offset are seeded by `seed`.

    `start_us` (default: a seeded offset into the trace) is when the request reaches the
    server; a live run passes its own, so both see the same stretch of the trace.
    `endpoints`: a (sender, receiver) pair to run instead of `make_endpoints(scheme, copies)`.
    """
    path.validate()
    sim = Simulator(seed)
    net = Network(sim, build_direction(path, True, seed * 2 + 1), build_direction(path, False, seed * 2 + 2))
    sender, receiver = endpoints or make_endpoints(scheme, copies)
    start = trace_offset_us(path, seed, schedule.duration_us + TAIL_US) if start_us is None else start_us
    feeder = ScheduledSender(sender, schedule, start_us=start)
    net.add_flow(feeder, receiver, scheme, start_us=start)
    sim.run(start + schedule.duration_us + TAIL_US)
    render_us = receiver.log.times_by_index(len(schedule))
    metrics = token_metrics(feeder.gen_us, render_us, schedule.token_bytes, sender.bytes_sent, request_us=start)
    metrics["packets_sent"] = sender.packets_sent
    metrics["max_datagram_bytes"] = sender.max_datagram
    return StreamRun(scheme, seed, path, metrics, sender, receiver, feeder.gen_us, render_us)

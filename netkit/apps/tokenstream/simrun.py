"""Run one token stream of one scheme over one path: a `tokenstream` experiment on a `path` topology."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netkit.net.direction import LinkDirection

DEFAULT_DOWN = LinkDirection(trace="constant:12", delay_ms=50.0)  # a 12 Mbit/s link, 50 ms each way
TAIL_US = 30_000_000  # time allowed after the last token for recovery


@dataclass
class StreamRun:
    """One finished run: its metrics, the endpoints (for inspection) and generation/render times."""

    scheme: str
    seed: int
    path: LinkDirection
    metrics: dict
    sender: Any
    receiver: Any
    gen_us: list[int]
    render_us: list[int | None]

    def row(self) -> dict:
        """A flat JSON-able record of the run."""
        return {"scheme": self.scheme, "seed": self.seed, **self.path.to_dict(), **self.metrics}


def stream_experiment(scheme: str, schedule, down: LinkDirection = DEFAULT_DOWN, seed: int = 0, copies: int = 2,
                      start_us: int | None = None, mode: str = "sim", up: LinkDirection | None = None,
                      endpoints: tuple[Any, Any] | None = None) -> dict:
    """The experiment table: `down` carries the tokens, the uplink has the same delay (ACKs, no loss) unless `up`."""
    up = up or LinkDirection(delay_ms=down.delay_ms)
    app = {"module": "tokenstream", "scheme": scheme, "copies": copies, "schedule": schedule}
    if endpoints is not None:
        app["endpoints"] = endpoints
    if start_us is not None:
        app.update(random_offset=False, start_s=start_us / 1e6)
    from netkit.apps.tokenstream.app import stream_duration_s

    duration = stream_duration_s(schedule, [down.trace], start_us is None) + (start_us or 0) / 1e6
    return {"name": f"tokenstream-{scheme}", "seed": seed, "mode": mode, "duration_s": duration,
            "links": {"down": down.to_dict(), "up": up.to_dict()}, "apps": [app]}


def simulate(scheme: str, schedule, down: LinkDirection = DEFAULT_DOWN, seed: int = 0, copies: int = 2,
             start_us: int | None = None, mode: str = "sim",
             endpoints: tuple[Any, Any] | None = None) -> StreamRun:
    """Stream `schedule` with `scheme` over `down`; loss, queue and trace offset are seeded by `seed`.

    `start_us` (default: a seeded offset into the trace) is when the request reaches the server.
    `endpoints`: a (sender, receiver) pair to run instead of `make_endpoints(scheme, copies)`
    (the very objects passed: inspect them, or the run's `sender`/`receiver`, afterwards).
    """
    from netkit.experiment.runner import run
    from netkit.experiment.spec import parse_experiment

    exp = parse_experiment(stream_experiment(scheme, schedule, down, seed, copies, start_us, mode,
                                             endpoints=endpoints))
    result = run(exp)
    app = result.apps[0]
    metrics = {k.split(".", 1)[1]: val for k, val in result.metrics.items() if k.startswith("tokenstream.")}
    for k in ("tokens", "rendered", "packets_sent", "max_datagram_bytes"):
        if k in metrics:
            metrics[k] = int(metrics[k])
    return StreamRun(scheme, seed, down, metrics, app.sender, app.receiver, app.feeder.gen_us,
                     app.receiver.log.times_by_index(len(app.sched)))

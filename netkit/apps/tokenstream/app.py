"""`tokenstream` as an app: one LLM response streamed from the server to the client with one of four schemes.

Parameters: the scheme (eloquent, retransmit, duplicate, udp) and duplicate's
`copies`; the response (synthetic: `tokens`, `rate_tps`, `jitter_ms`,
`first_token_ms`; or a `token_trace` file); `random_offset` starts the request
at a seeded point of the downlink trace so seeds sample different stretches.
The app emits `done` once every token has been rendered (and the sender has
nothing left to send), or `TAIL_US` after the last token at the latest (a stream
that lost tokens for good); the experiment's `duration_s` must cover the start
offset plus that span (`stream_duration_s`). Metrics: stall_ratio, ttft_ms, token_delay_ms_p50/p95/p99,
bytes_overhead, delivered_fraction, packets_sent, ...
"""
from __future__ import annotations

from netkit.apps.tokenstream.feeder import ScheduledSender
from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.schemes import SCHEMES, make_endpoints
from netkit.apps.tokenstream.sources import read_timing_trace, synthetic
from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit import validate as v
from netkit.experiment.app import App, FlowPlan, Param, WatchedEndpoint
from netkit.net.direction import get_trace

TAIL_US = 30_000_000  # room after the last token for recovery when choosing a trace offset


class TokenStreamApp(App):
    """One token stream (see the module docstring)."""

    name = "tokenstream"
    help = "LLM token streaming: Eloquent against retransmission, duplication and plain UDP"
    runs_to_completion = True
    params = (
        Param("scheme", "choice", "eloquent", "streaming scheme", choices=SCHEMES),
        Param("copies", "int", 2, "duplicate: copies of each packet (k >= 2)", maximum=100, minimum=2),
        Param("tokens", "int", 300, "synthetic source: tokens per response", maximum=1_000_000, minimum=1),
        Param("rate_tps", "float", 30.0, "synthetic source: tokens per second", maximum=1e6, minimum=0, min_exclusive=True),
        Param("jitter_ms", "float", 10.0, "synthetic source: gap standard deviation", maximum=1e5, minimum=0),
        Param("first_token_ms", "float", 0.0, "synthetic source: time to the first token", maximum=v.MAX_DELAY_MS, minimum=0),
        Param("token_trace", "path", None, "timing trace of inter-token gaps instead of the synthetic source"),
        Param("random_offset", "bool", True, "start at a seeded point of the downlink trace"),
        Param("schedule_seed", "int", None, "seed of the response (default: the app's seed)", minimum=0, maximum=v.MAX_SEED),
        Param("schedule", "object", None, "a TokenSchedule (Python callers only)"),
        Param("endpoints", "object", None, "a (sender, receiver) pair run instead of the scheme's (Python callers only)"),
    )

    @classmethod
    def validate(cls, params, key: str) -> None:
        """A token timing trace, when given, must parse."""
        if params["token_trace"]:
            from netkit.errors import UserError

            try:
                read_timing_trace(params["token_trace"], seed=0)
            except (ValueError, OSError) as exc:
                raise UserError(str(exc), f"{key}.token_trace") from None

    def schedule(self) -> TokenSchedule:
        """The response this run streams."""
        if self.p["schedule"] is not None:
            return self.p["schedule"]
        seed = self.p["schedule_seed"] if self.p["schedule_seed"] is not None else self.ctx.seed
        if self.p["token_trace"]:
            return read_timing_trace(self.p["token_trace"], seed=seed)
        return synthetic(self.p["tokens"], self.p["rate_tps"], self.p["jitter_ms"], self.p["first_token_ms"], seed=seed)

    def _offset_us(self, span_us: int) -> int:
        traced = [d for d in self.ctx.down_route if d.trace]
        if not self.p["random_offset"] or not traced or traced[-1].trace.startswith("constant:"):
            return 0
        room = traced[-1].schedule().period_ms * 1000 - span_us
        return self.ctx.rng("offset").randrange(0, room, 1000) if room > 0 else 0

    def flows(self) -> list[FlowPlan]:
        sched = self.sched = self.schedule()
        self.sender, self.receiver = self.p["endpoints"] or make_endpoints(self.p["scheme"], self.p["copies"])
        self.start_us = self._offset_us(sched.duration_us + TAIL_US)
        self.feeder = ScheduledSender(self.sender, sched, start_us=self.start_us)
        self._signalled = False
        deadline = self.start_us + sched.duration_us + TAIL_US
        return [FlowPlan(WatchedEndpoint(self.feeder, self._check, deadline), WatchedEndpoint(self.receiver, self._check),
                         self.p["scheme"], self.start_us)]

    def _check(self, now: int, give_up: bool = False) -> None:
        complete = self.receiver.finished_at is not None and getattr(self.sender, "done", True)
        if not self._signalled and (complete or give_up):
            self._signalled = True
            self.ctx.done(now)

    @staticmethod
    def span_us(schedule: TokenSchedule) -> int:
        """The longest a stream of `schedule` lasts: its tokens, then `TAIL_US` for recovery."""
        return schedule.duration_us + TAIL_US

    def metrics(self) -> dict[str, float]:
        render_us = self.receiver.log.times_by_index(len(self.sched))
        m = token_metrics(self.feeder.gen_us, render_us, self.sched.token_bytes, self.sender.bytes_sent,
                          request_us=self.start_us)
        m["packets_sent"] = self.sender.packets_sent
        m["max_datagram_bytes"] = self.sender.max_datagram
        m["start_s"] = self.start_us / 1e6
        return {k: float(val) for k, val in m.items() if isinstance(val, (int, float))}


def stream_duration_s(schedule: TokenSchedule, traces: list[str | None], random_offset: bool = True) -> float:
    """An experiment duration that covers any seeded start offset into `traces` plus the stream's span."""
    longest = 0
    if random_offset:
        for t in traces:
            if t and not t.startswith("constant:"):
                longest = max(longest, get_trace(t).period_ms * 1000)
    return (max(longest, TokenStreamApp.span_us(schedule)) + 1_000_000) / 1e6

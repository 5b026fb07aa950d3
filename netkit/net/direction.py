"""One link direction: a trace (file or `constant:MBPS`), one-way delay, random loss, a queue, a log.

`LinkDirection` is what a user writes (an experiment file's `[links.down]`, the
shared `--trace/--delay/--loss/...` options). `DirectionPlan` places it in a
network: its component name (`down`, `h2.up`), the run's seed and an optional
Mahimahi log; `build()` gives the element chain, outermost Mahimahi shell first:
Delay (mm-delay), loss (mm-loss, Bernoulli or Gilbert-Elliott), then TraceLink
with its queue (mm-link). The loss and the queue draw from seeds derived from
the run's seed and the component name, so the simulator and the live link
process, which both call `build()`, make the same random decisions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any, Mapping

from netkit import validate as v
from netkit.errors import UserError
from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.log import LinkLog
from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.queues import make_queue
from netkit.link.tracelink import TraceLink
from netkit.net.seeds import component_seed
from netkit.trace import OPPORTUNITY_BYTES, Trace, load_trace, synth

LOSS_MODELS = ("bernoulli", "ge")
CONSTANT_PREFIX = "constant:"


@lru_cache(maxsize=64)
def get_trace(spec: str) -> Trace:
    """Load a trace file of any netkit format, or build `constant:MBPS` (cached: sweeps reuse a few traces)."""
    if spec.startswith(CONSTANT_PREFIX):
        text = spec[len(CONSTANT_PREFIX):]
        try:
            mbps = float(text)
        except ValueError:
            raise UserError(f"expected constant:MBPS with a number, got {spec!r}") from None
        try:
            v.rate_arg.check(mbps)
        except UserError as exc:
            raise UserError(f"constant:MBPS: {exc.message}") from None
        # a 10 s loop, shorter for rates above ~1.2 Gbit/s so one loop stays within a million opportunities
        loop_ms = max(10, min(10_000, int(1e6 * OPPORTUNITY_BYTES * 8 / (mbps * 1e3))))
        return synth.constant(mbps, loop_ms / 1000)
    return load_trace(spec)


@lru_cache(maxsize=64)
def entered_trace(spec: str, start_ms: int) -> Trace:
    """`get_trace(spec)` entered `start_ms` into it (`Trace.starting_at`; cached like `get_trace`)."""
    return get_trace(spec).starting_at(start_ms)


@dataclass(frozen=True)
class LinkDirection:
    """One direction of a link, as the user describes it (every field has the Mahimahi-like default).

    trace: trace file or `constant:MBPS`; None: no rate limit (delay and loss only).
    delay_ms: one-way delay. loss: loss probability. loss_model: `bernoulli` or `ge`
    (Gilbert-Elliott bursts of mean `loss_burst` packets, all lost). queue: a queue
    spec (`droptail:packets=100`, `dualpi2`, ...; None: infinite). log: write a
    Mahimahi-format log of this direction into the record. trace_start_s: enter the trace this many
    seconds into it (`Trace.starting_at`: what comes before plays after the rest), to run on another part of
    a long recording.
    """

    trace: str | None = None
    delay_ms: float = 0.0
    loss: float = 0.0
    loss_model: str = "bernoulli"
    loss_burst: float = 3.0
    queue: str | None = None
    log: bool = True
    trace_start_s: float = 0.0

    KEYS = ("trace", "delay_ms", "loss", "loss_model", "loss_burst", "queue", "log", "trace_start_s")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "") -> "LinkDirection":
        """Read and validate a table of the keys above (unknown keys and bad values raise UserError)."""
        v.table(data, key)
        v.known_keys(data, cls.KEYS, key)
        made = cls(**{k: data[k] for k in cls.KEYS if k in data})
        made.validate(key)
        return made

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data (JSON/TOML-able)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_(self, **changes: Any) -> "LinkDirection":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def validate(self, key: str = "") -> None:
        """Raise UserError naming `key.field` for the first unusable value (loads the trace and the queue)."""
        k = lambda name: v.join(key, name)  # noqa: E731
        if self.trace is not None:
            v.string(self.trace, k("trace"))
            try:
                get_trace(self.trace)
            except UserError as exc:
                raise UserError(exc.message, k("trace")) from None
            except (ValueError, OSError) as exc:
                raise UserError(str(exc), k("trace")) from None
        v.number(self.trace_start_s, k("trace_start_s"), minimum=0)
        if self.start_ms:
            if self.trace is None:
                raise UserError("needs a trace (no trace: the direction has no schedule to enter)", k("trace_start_s"))
            period_ms = get_trace(self.trace).period_ms
            if self.start_ms >= period_ms:
                raise UserError(f"expected a start in seconds >= 0 and below the trace's {period_ms / 1000:g} s "
                                f"(to the ms), got {self.trace_start_s:g}", k("trace_start_s"))
        v.delay_arg.check(self.delay_ms, k("delay_ms"))
        v.probability(self.loss, k("loss"))
        v.choice(self.loss_model, k("loss_model"), LOSS_MODELS)
        v.burst_arg.check(self.loss_burst, k("loss_burst"))
        if self.loss_model == "ge" and self.loss > 0 and self.loss / (1 - self.loss) > self.loss_burst:
            # Gilbert-Elliott's good->bad probability loss / ((1 - loss) * burst) must stay <= 1
            raise UserError(f"a loss of {self.loss:g} in bursts needs a mean burst length >= "
                            f"{self.loss / (1 - self.loss):.4g} packets, got {self.loss_burst:g}", k("loss_burst"))
        if self.queue is not None:
            v.string(self.queue, k("queue"))
            try:
                make_queue(self.queue)
            except ValueError as exc:
                msg = str(exc)
                if msg.startswith("--queue "):  # the queue parser's own prefix; the key says where
                    msg = msg.split(": ", 1)[-1]
                raise UserError(msg, k("queue")) from None
        v.boolean(self.log, k("log"))

    @property
    def start_ms(self) -> int:
        """`trace_start_s` in whole milliseconds (the trace's resolution)."""
        return round(self.trace_start_s * 1000)

    def schedule(self) -> Trace | None:
        """The delivery schedule this direction runs on (the trace entered at `trace_start_s`; None: no trace)."""
        return None if self.trace is None else entered_trace(self.trace, self.start_ms)

    @property
    def label(self) -> str:
        """Short name of the trace (file name, constant:MBPS, or `unlimited`)."""
        return self.trace.rsplit("/", 1)[-1] if self.trace else "unlimited"


@dataclass(frozen=True)
class DirectionPlan:
    """A `LinkDirection` placed in a network: component name, run seed, log file and header."""

    spec: LinkDirection
    name: str
    seed: int = 0
    log_path: str | None = None
    log_header: tuple[str, ...] = ()

    @property
    def loss_seed(self) -> int:
        """Seed of this direction's loss element."""
        return component_seed(self.seed, f"{self.name}.loss")

    @property
    def queue_seed(self) -> int:
        """Seed of this direction's queue (PIE and DualPI2 draw random numbers)."""
        return component_seed(self.seed, f"{self.name}.queue")

    def build(self) -> tuple[Chain, list[LinkLog]]:
        """The element chain (Delay, loss, TraceLink with its queue) and the logs it writes (close them at the end)."""
        s = self.spec
        elements: list[Any] = []
        logs: list[LinkLog] = []
        if s.delay_ms:
            elements.append(Delay.ms(s.delay_ms))
        if s.loss:
            if s.loss_model == "ge":
                elements.append(GilbertElliottLoss.from_rate(s.loss, s.loss_burst, seed=self.loss_seed))
            else:
                elements.append(BernoulliLoss(s.loss, seed=self.loss_seed))
        if s.trace is not None:
            queue = make_queue(s.queue, seed=self.queue_seed)
            schedule = s.schedule()
            # opened last: nothing after it can fail and leave its partial file behind
            log = LinkLog(self.log_path, list(self.log_header)) if self.log_path else None
            if log is not None:
                logs.append(log)
            elements.append(TraceLink(schedule, queue, log=log))
        return Chain(elements), logs

    def to_dict(self) -> dict[str, Any]:
        """Plain data, to cross a process boundary as JSON."""
        d = asdict(self)
        d["log_header"] = list(self.log_header)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DirectionPlan":
        """Rebuild from `to_dict` output."""
        return cls(LinkDirection(**data["spec"]), data["name"], data["seed"], data.get("log_path"),
                   tuple(data.get("log_header", ())))


@dataclass(frozen=True)
class LinkPlan:
    """Both directions of one link. `down` carries packets to the inner side (mm-link's downlink)."""

    down: DirectionPlan
    up: DirectionPlan
    name: str = "link"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, to cross a process boundary as JSON."""
        return {"name": self.name, "down": self.down.to_dict(), "up": self.up.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LinkPlan":
        """Rebuild from `to_dict` output."""
        return cls(DirectionPlan.from_dict(data["down"]), DirectionPlan.from_dict(data["up"]), data.get("name", "link"))

    @classmethod
    def single(cls, down: LinkDirection, up: LinkDirection, seed: int = 0, log_dir: str | None = None,
               command: str = "netkit", name: str = "") -> "LinkPlan":
        """The one link of a `path` topology (component names `down` and `up`, logs `{down,up}link.log`)."""
        return cls(plan_direction(down, "down" if not name else f"{name}.down", seed, log_dir, command),
                   plan_direction(up, "up" if not name else f"{name}.up", seed, log_dir, command), name or "link")


def log_file_name(component: str) -> str:
    """The Mahimahi log's file name of a direction: `down` -> `downlink.log`, `h2.up` -> `h2.uplink.log`."""
    return f"{component}link.log"


def log_header(component: str, spec: LinkDirection, command: str) -> tuple[str, ...]:
    """Header lines of a Mahimahi-format link log, as mm-link writes them (plus, for a direction that enters
    its trace later, the line `trace start: N ms`, which mm-link has no counterpart for)."""
    start = (f"trace start: {spec.start_ms} ms",) if spec.start_ms else ()
    return (
        f"mahimahi mm-link ({component}link) [{spec.trace}] > {log_file_name(component)} (written by netkit)",
        f"command line: {command}",
        f"queue: {make_queue(spec.queue).describe()}",
        *start,
        "init timestamp: 0",
        "base timestamp: 0",
    )


def plan_direction(spec: LinkDirection, component: str, seed: int, log_dir: str | None = None,
                   command: str = "netkit") -> DirectionPlan:
    """Place `spec` as `component`, logging into `log_dir` when it has a trace and asks for a log."""
    if log_dir and spec.trace is not None and spec.log:
        return DirectionPlan(spec, component, seed, f"{log_dir}/{log_file_name(component)}",
                             log_header(component, spec, command))
    return DirectionPlan(spec, component, seed)


__all__ = ["LinkDirection", "DirectionPlan", "LinkPlan", "get_trace", "plan_direction", "log_file_name",
           "log_header", "LOSS_MODELS"]

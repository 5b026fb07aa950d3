"""The plug-in interface of host modules: an `App` declares its parameters, supplies sans-I/O endpoints for
its two roles, signals completion with events and returns a flat metrics dict.

A module registers its class by name (`netkit.experiment.registry.register_app`,
or a `netkit.apps` entry point); the experiment layer imports it only when an
experiment names it. The runner then, for each `[[apps]]` entry of an experiment:

1. validates the entry's keys against `App.params` (types, defaults, bounds),
   then `App.validate` (checks across parameters, or of a file's content);
2. builds the app with the validated parameters and an `AppContext` (its own
   seed, the run's timing and mode, where its roles sit, the links its data
   crosses, and `emit()` for events);
3. asks `flows()` for `FlowPlan`s: a sans-I/O endpoint for the `server` role
   (the data sender) and one for the `client` role, a label and a start time.
   The same endpoints run in the simulator (`netkit.sim`) and live over UDP
   (`netkit.emu.harness`), both telling them the time;
4. listens for the app's `done` event (`ctx.done()`): when every app that
   `runs_to_completion` has emitted it, the run ends (else at `duration_s`);
5. collects `metrics()`: a flat dict of numbers, units in the names
   (`ttft_ms`, `throughput_mbps`, `stall_ratio`), after `ctx.records` (the
   per-flow packet records the driver filled) are in place.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from netkit import validate as v
from netkit.errors import UserError
from netkit.net.direction import LinkDirection
from netkit.sim.metrics import FlowRecord
from netkit.transport.base import Endpoint

PARAM_KINDS = ("float", "int", "str", "bool", "path", "choice", "object")


@dataclass(frozen=True)
class Param:
    """One parameter an app accepts in its `[[apps]]` entry.

    kind: float, int, str, bool, path (a file, resolved against the experiment's
    folder), or choice (one of `choices`). `default` None with `required` False
    means "not set". Bounds apply to numbers. `object` is for Python callers only
    (an experiment table built in code may pass any value; TOML cannot make one).
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    required: bool = False

    def check(self, value: Any, key: str) -> Any:
        """The value validated and converted, or UserError naming `key` and what was expected."""
        if value is None:
            if self.required:
                raise UserError(f"required; {self.help or self.kind}", key)
            return None
        if self.kind in ("float", "int"):
            return v.number(value, key, minimum=self.minimum, maximum=self.maximum,
                            min_exclusive=self.min_exclusive, integer=self.kind == "int")
        if self.kind == "object":
            return value
        if self.kind == "bool":
            return v.boolean(value, key)
        if self.kind == "choice":
            return v.choice(value, key, self.choices)
        if self.kind == "path":
            v.string(value, key)
            import os

            if not os.path.exists(value):
                raise UserError(f"no such file {value!r}", key)
            if os.path.isdir(value):
                raise UserError(f"{value!r} is a folder; expected a file", key)
            if not os.access(value, os.R_OK):
                raise UserError(f"{value!r} is not readable", key)
            return value
        return v.string(value, key)


@dataclass(frozen=True)
class FlowPlan:
    """One flow an app asks for: the endpoint on its server host (sends the data) and on its client host."""

    server: Endpoint
    client: Endpoint
    label: str
    start_us: int = 0


@dataclass
class AppContext:
    """What an app is told about its run: seed, timing, mode, placement, links, and the event channel."""

    index: int
    key: str
    seed: int
    duration_us: int
    warmup_us: int
    mode: str
    server_host: str
    client_host: str
    down_route: list[LinkDirection]  # the directions data crosses, server to client
    up_route: list[LinkDirection]
    records: list[FlowRecord] = field(default_factory=list)  # filled by the driver, one per FlowPlan
    start_us: int = 0  # the entry's start_s (FlowPlan start times are added to it)
    end_us: int = 0  # when the run ended (set by the driver before `metrics()`)
    _listeners: dict[str, list[Callable[..., None]]] = field(default_factory=dict)

    def rng(self, name: str = "") -> random.Random:
        """A reproducible random stream of this app (sub-streams by name)."""
        return random.Random(f"{self.seed}:{name}")

    def on(self, event: str, listener: Callable[..., None]) -> None:
        """Subscribe to an event of this app (the driver listens for `done`)."""
        self._listeners.setdefault(event, []).append(listener)

    def emit(self, event: str, **data: Any) -> None:
        """Tell the listeners of `event`."""
        for fn in list(self._listeners.get(event, ())):
            fn(self, **data)

    def done(self, now_us: int | None = None) -> None:
        """The app finished its work (emits `done`); the run may end once every such app has."""
        self.emit("done", now_us=now_us)


class WatchedEndpoint:
    """An endpoint wrapper for apps: passes everything to `endpoint`, and after each arrival or timer calls
    `check(now)` (where the app decides whether to emit `done`).

    With `deadline_us`, it also wakes at that time and calls `check(now, True)`: the app gives up there (a
    stream that lost data for good, a request past its cap). The runner only ever hears the app's event.
    """

    def __init__(self, endpoint: Endpoint, check, deadline_us: int | None = None) -> None:
        self.endpoint = endpoint
        self.check = check
        self.deadline_us = deadline_us

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Hand in a datagram, then let the app check."""
        self.endpoint.receive_datagram(data, now, ecn)
        self.check(now)

    def datagrams_to_send(self, now: int):
        """The endpoint's datagrams."""
        return self.endpoint.datagrams_to_send(now)

    def get_timer(self):
        """The endpoint's timer, or the deadline if earlier."""
        t = self.endpoint.get_timer()
        if self.deadline_us is not None and (t is None or self.deadline_us < t):
            return self.deadline_us
        return t

    def handle_timer(self, now: int) -> None:
        """Fire the endpoint's timer if due, and the deadline if reached."""
        t = self.endpoint.get_timer()
        if t is not None and t <= now:
            self.endpoint.handle_timer(now)
        if self.deadline_us is not None and now >= self.deadline_us:
            self.deadline_us = None
            self.check(now, True)
        self.check(now)

    def __getattr__(self, name: str):
        return getattr(self.endpoint, name)


class App:
    """Base class of a host-module plug-in (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: True: the run ends when this app emits `done` (and every other such app has); False: it runs for duration_s
    runs_to_completion: ClassVar[bool] = False
    #: drivers the app can run under
    modes: ClassVar[tuple[str, ...]] = ("sim", "emu")

    def __init__(self, params: Mapping[str, Any], ctx: AppContext) -> None:
        self.p = dict(params)
        self.ctx = ctx

    @classmethod
    def check_params(cls, entry: Mapping[str, Any], key: str) -> dict[str, Any]:
        """Validate an `[[apps]]` entry's app keys (placement keys already removed); defaults filled in."""
        names = [p.name for p in cls.params]
        v.known_keys(entry, names, key)
        return {p.name: p.check(entry.get(p.name, p.default), v.join(key, p.name)) for p in cls.params}

    @classmethod
    def validate(cls, params: Mapping[str, Any], key: str) -> None:
        """Checks across parameters or on their content (a file's), after `check_params`; raise UserError naming
        `key.PARAM`. Runs when the experiment is validated, before anything runs or is written."""

    def flows(self) -> list[FlowPlan]:
        """The flows to run (endpoints for the server and client roles)."""
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        """Flat metrics of the finished run, units in the names."""
        return {}

"""Experiment files: a small TOML file (read with `tomllib`) describing the network, the apps and the run.

    name = "lte-bulk"
    duration_s = 30
    seed = 1
    mode = "sim"              # or "emu"
    [topology]
    kind = "path"             # path | dumbbell (pairs = N) | star (hosts = N)
    [links.down]              # server -> client; the same keys for links.up
    trace = "traces/const-12mbps.trace"
    delay_ms = 20
    [[apps]]
    module = "bulk"
    cc = "cubic"

Relative paths (traces, app files) resolve against the file's folder, then the
working directory. Every problem is one `UserError` naming the file, the dotted
key and what was expected; nothing is run or written before the whole file
(with its `--set` overrides, or every sweep point) has passed.
"""
from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from netkit import validate as v
from netkit.errors import UserError
from netkit.experiment.registry import get_app
from netkit.net.topology import Topology

TOP_KEYS = ("name", "description", "duration_s", "warmup_s", "seed", "mode", "topology", "links", "apps")
PLACEMENT_KEYS = ("module", "name", "server", "client", "start_s")
MODES = ("sim", "emu")
#: the most packets one simulated run may carry (docs/core.md, "Input limits")
MAX_SIM_PACKETS = 50_000_000


@dataclass(frozen=True)
class AppEntry:
    """One `[[apps]]` entry: which app, its key in the metrics, its hosts, start time and validated parameters."""

    module: str
    key: str
    server: str
    client: str
    start_s: float
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. `data` is the resolved table (paths made absolute), as config.json records it."""

    name: str
    duration_s: float
    warmup_s: float
    seed: int
    mode: str
    topology: Topology
    apps: tuple[AppEntry, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def duration_us(self) -> int:
        """The run's length (a cap for apps that run to completion), µs."""
        return int(round(self.duration_s * 1e6))

    @property
    def warmup_us(self) -> int:
        """Start-up excluded from window metrics, µs."""
        return int(round(self.warmup_s * 1e6))


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; UserError naming the file (and line) when it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError("no such experiment file", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML: {exc}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", source=str(path)) from None


def parse_value(text: str) -> Any:
    """A `--set`/`--grid` value: a TOML literal (`0.01`, `true`, `"x"`, `[1, 2]`), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `dotted` (e.g. `links.down.loss`, `apps.0.cc`) in `data`, creating tables on the way."""
    parts = dotted.split(".")
    if not all(parts):
        raise UserError("expected a dotted key such as links.down.loss", dotted)
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UserError(f"no entry {part}; the list has {len(node)} entries (0-based)", here)
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise UserError("is not a table", ".".join(parts[:i]))
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UserError(f"no entry {last}; the list has {len(node)} entries (0-based)", dotted)
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise UserError("is not a table", ".".join(parts[:-1]))


def resolve_path(value: Any, base_dir: Path) -> Any:
    """A relative file path against the experiment's folder, then the working directory (else as given)."""
    if not isinstance(value, str) or not value or value.startswith("constant:") or os.path.isabs(value):
        return value
    for base in (base_dir, Path.cwd()):
        candidate = base / value
        if candidate.exists():
            return str(candidate.resolve())
    return str(base_dir / value)


def parse_experiment(data: Mapping[str, Any], source: str = "", base_dir: str | os.PathLike | None = None) -> Experiment:
    """Validate an experiment table; UserError naming `source`, the dotted key and what was expected."""
    try:
        return _parse(copy.deepcopy(dict(data), _python_objects(data)),
                      Path(base_dir) if base_dir is not None else Path.cwd(), source)
    except UserError as exc:
        raise exc.within(source) from None


def _python_objects(data: Any, memo: dict[int, Any] | None = None) -> dict[int, Any]:
    """A deepcopy memo that keeps Python-only values (object params: endpoints, schedules) as they are.

    The table itself is copied so parsing never changes the caller's; an object passed in
    is the one the app runs, so the caller can inspect it afterwards.
    """
    memo = {} if memo is None else memo
    if isinstance(data, Mapping):
        for val in data.values():
            _python_objects(val, memo)
    elif isinstance(data, (list, tuple)):
        for val in data:
            _python_objects(val, memo)
    elif data is not None and not isinstance(data, (str, int, float, bool)):
        memo[id(data)] = data
    return memo


def load_experiment(path: str | os.PathLike, overrides: list[tuple[str, Any]] = ()) -> Experiment:
    """Read, override (`--set` pairs of dotted key and value) and validate an experiment file."""
    data = read_toml(path)
    for key, value in overrides:
        try:
            set_key(data, key, value)
        except UserError as exc:
            raise exc.within(str(path)) from None
    return parse_experiment(data, str(path), Path(path).resolve().parent)


def _parse(data: dict[str, Any], base: Path, source: str) -> Experiment:
    v.known_keys(data, TOP_KEYS)
    stem = Path(source).stem if source else "experiment"
    name = v.string(data.get("name", stem), "name")
    duration = float(v.duration_arg.check(data.get("duration_s", 30.0), "duration_s"))
    warmup = float(v.number(data.get("warmup_s", 0.0), "warmup_s", minimum=0, maximum=v.MAX_DURATION_S))
    if warmup >= duration:
        raise UserError(f"expected less than duration_s ({duration:g}), got {warmup:g}", "warmup_s")
    seed = v.integer(data.get("seed", 0), "seed", minimum=0, maximum=v.MAX_SEED)
    mode = v.choice(data.get("mode", "sim"), "mode", MODES)
    apps_raw = data.get("apps", [])
    if not isinstance(apps_raw, list) or not all(isinstance(a, dict) for a in apps_raw):
        raise UserError("expected an array of tables ([[apps]])", "apps")
    if not apps_raw:
        raise UserError("at least one [[apps]] entry is needed", "apps")
    links = v.table(data.get("links", {}), "links")
    for k, table in links.items():
        if isinstance(table, dict):
            for d, t in ([(k, table)] if k in ("down", "up") else [(f"{k}.{x}", y) for x, y in table.items()]):
                if isinstance(t, dict) and "trace" in t:
                    t["trace"] = resolve_path(t["trace"], base)
    topology = Topology.from_dict(data.get("topology", {}), links, pairs_default=max(1, len(apps_raw)))
    entries = []
    counts: dict[str, int] = {}
    for a in apps_raw:
        counts[a.get("module")] = counts.get(a.get("module"), 0) + 1
    used: set[str] = set()
    for i, a in enumerate(apps_raw):
        key = f"apps.{i}"
        module = v.string(a.get("module"), v.join(key, "module")) if "module" in a else None
        if module is None:
            raise UserError("required; the app's registered name (e.g. bulk, cbr, tokenstream, kvstream)",
                            v.join(key, "module"))
        cls = get_app(module, v.join(key, "module"))
        if mode not in cls.modes:
            raise UserError(f"app {module!r} cannot run in mode {mode!r}; it runs in {', '.join(cls.modes)}", "mode")
        app_key = v.string(a.get("name", module if counts[module] == 1 else f"{module}{i + 1}"), v.join(key, "name"))
        if app_key in used:
            raise UserError(f"two apps are named {app_key!r}; give each a distinct name", v.join(key, "name"))
        used.add(app_key)
        d_server, d_client = topology.default_placement(i)
        server = v.string(a.get("server", d_server), v.join(key, "server"))
        client = v.string(a.get("client", d_client), v.join(key, "client"))
        try:
            topology.route(server, client)
        except UserError as exc:
            raise UserError(exc.message, v.join(key, "server" if "server" in a else "client")) from None
        start = float(v.number(a.get("start_s", 0.0), v.join(key, "start_s"), minimum=0, maximum=v.MAX_DURATION_S))
        rest = {k: val for k, val in a.items() if k not in PLACEMENT_KEYS}
        for p in cls.params:
            if p.kind == "path" and p.name in rest:
                rest[p.name] = resolve_path(rest[p.name], base)
                a[p.name] = rest[p.name]
        params = cls.check_params(rest, key)
        cls.validate(params, key)
        entries.append(AppEntry(module, app_key, server, client, start, params))
    if mode == "sim":
        _check_simulated_work(topology, entries, duration)
    resolved = {"name": name, "duration_s": duration, "warmup_s": warmup, "seed": seed, "mode": mode,
                "topology": {"kind": topology.kind, **({"pairs": topology.pairs} if topology.kind == "dumbbell" else {}),
                             **({"hosts": topology.hosts} if topology.kind == "star" else {})},
                "links": _resolved_links(topology, links),
                "apps": [{"module": e.module, "name": e.key, "server": e.server, "client": e.client,
                          "start_s": e.start_s, **_plain_params(get_app(e.module), e.params)}
                         for e in entries]}
    if "description" in data:
        resolved["description"] = v.string(data["description"], "description", allow_empty=True)
    return Experiment(name, duration, warmup, seed, mode, topology, tuple(entries), resolved, source)


def _check_simulated_work(topology: Topology, entries: list[AppEntry], duration_s: float) -> None:
    """Refuse a simulated run whose packet count (link opportunities plus constant-rate apps, rate x duration)
    exceeds `MAX_SIM_PACKETS`: it would run for hours instead of failing."""
    from netkit.trace import OPPORTUNITY_BYTES

    mbps = sum(topology.direction(c).schedule().mean_mbps for c in topology.components()
               if topology.direction(c).trace is not None)
    mbps += sum(float(e.params.get("rate_mbps") or 0) for e in entries)
    packets = mbps * 1e6 * duration_s / (OPPORTUNITY_BYTES * 8)
    if packets > MAX_SIM_PACKETS:
        raise UserError(f"a simulated run of {duration_s:g} s at {mbps:g} Mbit/s in all (links and constant-rate "
                        f"apps) is ~{packets:.3g} packets; the limit is {MAX_SIM_PACKETS:.0e} (rate x duration, "
                        "e.g. 1 Gbit/s for 10 min): shorten it or lower the rates", "duration_s")


def _resolved_links(topology: Topology, links: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"down": _drop_none(topology.down.to_dict()), "up": _drop_none(topology.up.to_dict())}
    for host, (down, up) in topology.overrides.items():
        out[host] = {"down": _drop_none(down.to_dict()), "up": _drop_none(up.to_dict())}
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in d.items() if val is not None}


def _plain_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as config.json records them (objects from Python callers as their type's name)."""
    kinds = {p.name: p.kind for p in cls.params}
    return {k: (f"<{type(val).__name__}>" if kinds.get(k) == "object" else val)
            for k, val in params.items() if val is not None}

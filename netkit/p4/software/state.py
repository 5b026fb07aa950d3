"""Switch state built from a P4Info: match-action tables, counters, registers and the packet replication engine.

This is the part of the software target a P4Runtime server reads and writes; the pipeline
(netkit.p4.software.sfu) looks entries up in it. Validation raises `P4RuntimeStateError` with
the gRPC status code a real switch answers with.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from p4.config.v1 import p4info_pb2

from netkit.p4.p4info import decode

EXACT = p4info_pb2.MatchField.EXACT
TERNARY = p4info_pb2.MatchField.TERNARY
LPM = p4info_pb2.MatchField.LPM
RANGE = p4info_pb2.MatchField.RANGE
OPTIONAL = p4info_pb2.MatchField.OPTIONAL


class P4RuntimeStateError(Exception):
    """A request the switch refuses, with the gRPC status code to answer."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> P4RuntimeStateError:
    return P4RuntimeStateError(grpc.StatusCode.INVALID_ARGUMENT, message)


@dataclass(frozen=True)
class FieldSpec:
    """One match field of a table."""

    id: int
    name: str
    bitwidth: int
    match_type: int


@dataclass(frozen=True)
class ActionSpec:
    """One action: its parameters as (id, name, bitwidth) in declaration order."""

    id: int
    name: str
    params: tuple[tuple[int, str, int], ...]


@dataclass
class Entry:
    """One installed table entry. `match` holds one normalised tuple per field (see TableState.normalise)."""

    match: tuple
    priority: int
    action_id: int
    params: tuple[int, ...]
    metadata: bytes = b""
    packets: int = 0
    bytes: int = 0
    cache: object = None    # derived values a pipeline keeps with the entry (e.g. packed rewrite bytes)


@dataclass
class TableState:
    """A match-action table: entries keyed by (match, priority), a default action, exact-match fast path."""

    id: int
    name: str
    fields: tuple[FieldSpec, ...]
    action_ids: frozenset[int]
    table_only: frozenset[int]
    default_only: frozenset[int]
    size: int
    default_action: tuple[int, tuple[int, ...]]
    initial_default: tuple[int, tuple[int, ...]]
    const_default: bool
    entries: dict[tuple, Entry] = field(default_factory=dict)
    all_exact: bool = True
    exact_index: dict[tuple, Entry] = field(default_factory=dict)

    def normalise(self, field_matches: dict[int, object]) -> tuple:
        """Per field: exact (v,), ternary (v&m, m), lpm (v masked, len), range (lo, hi), optional (v, present).

        `field_matches` maps field id to a p4.v1.FieldMatch; missing fields are don't-care where allowed.
        """
        out = []
        for f in self.fields:
            fm = field_matches.get(f.id)
            what = f"table {self.name} field {f.name}"
            if f.match_type == EXACT:
                if fm is None:
                    raise invalid(f"{what}: exact match field is missing")
                if fm.WhichOneof("field_match_type") != "exact":
                    raise invalid(f"{what}: expected an exact match")
                out.append((self._value(fm.exact.value, f, what),))
            elif f.match_type == TERNARY:
                if fm is None:
                    out.append((0, 0))
                    continue
                if fm.WhichOneof("field_match_type") != "ternary":
                    raise invalid(f"{what}: expected a ternary match")
                v, m = self._value(fm.ternary.value, f, what), self._value(fm.ternary.mask, f, what + " mask")
                if m == 0:
                    raise invalid(f"{what}: a ternary mask of 0 must be omitted (don't care)")
                if v & ~m:
                    raise invalid(f"{what}: value has bits outside the mask")
                out.append((v, m))
            elif f.match_type == LPM:
                if fm is None:
                    out.append((0, 0))
                    continue
                if fm.WhichOneof("field_match_type") != "lpm":
                    raise invalid(f"{what}: expected an lpm match")
                plen = fm.lpm.prefix_len
                if not 0 < plen <= f.bitwidth:
                    raise invalid(f"{what}: prefix length {plen} outside 1..{f.bitwidth}")
                v = self._value(fm.lpm.value, f, what)
                mask = ((1 << plen) - 1) << (f.bitwidth - plen)
                if v & ~mask:
                    raise invalid(f"{what}: value has bits beyond the prefix length")
                out.append((v, plen))
            elif f.match_type == RANGE:
                if fm is None:
                    out.append((0, (1 << f.bitwidth) - 1))
                    continue
                if fm.WhichOneof("field_match_type") != "range":
                    raise invalid(f"{what}: expected a range match")
                lo, hi = self._value(fm.range.low, f, what), self._value(fm.range.high, f, what)
                if lo > hi:
                    raise invalid(f"{what}: range low > high")
                out.append((lo, hi))
            elif f.match_type == OPTIONAL:
                if fm is None:
                    out.append((0, False))
                    continue
                if fm.WhichOneof("field_match_type") != "optional":
                    raise invalid(f"{what}: expected an optional match")
                out.append((self._value(fm.optional.value, f, what), True))
            else:
                raise invalid(f"{what}: unsupported match type {f.match_type}")
        return tuple(out)

    @staticmethod
    def _value(data: bytes, f: FieldSpec, what: str) -> int:
        try:
            return decode(data, f.bitwidth, what)
        except ValueError as exc:
            raise invalid(str(exc)) from None

    def needs_priority(self) -> bool:
        """Whether entries carry a priority (any ternary, range or optional field, as P4Runtime says)."""
        return any(f.match_type in (TERNARY, RANGE, OPTIONAL) for f in self.fields)

    def insert(self, entry: Entry) -> None:
        key = (entry.match, entry.priority)
        if key in self.entries:
            raise P4RuntimeStateError(grpc.StatusCode.ALREADY_EXISTS, f"table {self.name}: entry already exists")
        if len(self.entries) >= self.size:
            raise P4RuntimeStateError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"table {self.name} is full ({self.size})")
        self.entries[key] = entry
        self._reindex()

    def modify(self, entry: Entry) -> None:
        key = (entry.match, entry.priority)
        old = self.entries.get(key)
        if old is None:
            raise P4RuntimeStateError(grpc.StatusCode.NOT_FOUND, f"table {self.name}: no such entry to modify")
        entry.packets, entry.bytes = old.packets, old.bytes
        self.entries[key] = entry
        self._reindex()

    def delete(self, match: tuple, priority: int) -> None:
        if self.entries.pop((match, priority), None) is None:
            raise P4RuntimeStateError(grpc.StatusCode.NOT_FOUND, f"table {self.name}: no such entry to delete")
        self._reindex()

    def _reindex(self) -> None:
        if self.all_exact:
            self.exact_index = {tuple(m[0] for m in e.match): e for e in self.entries.values()}
        else:
            self._ordered = sorted(self.entries.values(), key=lambda e: -e.priority)

    def lookup(self, values: tuple[int, ...]) -> Entry | None:
        """The entry hit by these key values (highest priority first), or None for a miss."""
        if self.all_exact:
            return self.exact_index.get(values)
        for e in getattr(self, "_ordered", ()):
            if all(_matches(f.match_type, m, v) for f, m, v in zip(self.fields, e.match, values)):
                return e
        return None


def _matches(kind: int, m: tuple, v: int) -> bool:
    if kind == EXACT:
        return v == m[0]
    if kind == TERNARY:
        return v & m[1] == m[0]
    if kind == RANGE:
        return m[0] <= v <= m[1]
    if kind == OPTIONAL:
        return not m[1] or v == m[0]
    return False  # LPM is matched by the caller's width; not used by the SFU program


@dataclass
class CounterState:
    """An indexed counter array (packets and bytes kept; the P4Info unit says which are reported)."""

    id: int
    name: str
    size: int
    unit: int
    packets: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.packets = [0] * self.size
        self.bytes = [0] * self.size

    def count(self, index: int, length: int) -> None:
        """Count one packet of `length` bytes at `index` (out-of-range indices are ignored, as bmv2 does)."""
        if 0 <= index < self.size:
            self.packets[index] += 1
            self.bytes[index] += length


@dataclass
class RegisterState:
    """A register array of unsigned `bitwidth`-bit cells, all zero at start."""

    id: int
    name: str
    size: int
    bitwidth: int
    cells: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cells = [0] * self.size


class SwitchState:
    """Everything a P4Runtime controller can write, built from one P4Info."""

    def __init__(self, info: p4info_pb2.P4Info):
        self.info = info
        self.actions: dict[int, ActionSpec] = {
            a.preamble.id: ActionSpec(a.preamble.id, a.preamble.name,
                                      tuple((p.id, p.name, p.bitwidth) for p in a.params))
            for a in info.actions}
        self.tables: dict[int, TableState] = {}
        for t in info.tables:
            fields = tuple(FieldSpec(m.id, m.name, m.bitwidth, m.match_type) for m in t.match_fields)
            refs = {r.id: r.scope for r in t.action_refs}
            default_id = t.const_default_action_id or self._default_of(t)
            default = (default_id, tuple(0 for _ in self.actions[default_id].params)) if default_id else (0, ())
            self.tables[t.preamble.id] = TableState(
                id=t.preamble.id, name=t.preamble.name, fields=fields, action_ids=frozenset(refs),
                table_only=frozenset(i for i, s in refs.items() if s == p4info_pb2.ActionRef.TABLE_ONLY),
                default_only=frozenset(i for i, s in refs.items() if s == p4info_pb2.ActionRef.DEFAULT_ONLY),
                size=t.size or 1024, default_action=default, initial_default=default,
                const_default=bool(t.const_default_action_id),
                all_exact=all(f.match_type == EXACT for f in fields))
        self.counters = {c.preamble.id: CounterState(c.preamble.id, c.preamble.name, c.size, c.spec.unit)
                         for c in info.counters}
        self.registers = {r.preamble.id: RegisterState(r.preamble.id, r.preamble.name, r.size,
                                                       r.type_spec.bitstring.bit.bitwidth)
                          for r in info.registers}
        self.multicast_groups: dict[int, list[tuple[int, int]]] = {}
        self.clone_sessions: dict[int, list[tuple[int, int]]] = {}
        self.version = 0   # bumped by every table write: pipelines drop what they derived from entries

    def _default_of(self, table: p4info_pb2.Table) -> int:
        # p4c does not put a non-const default action in the P4Info; the program's default is what
        # the pipeline declares (SfuPipeline.DEFAULT_ACTIONS), set by the pipeline after construction.
        return 0

    def by_name(self, kind: str, name: str):
        """A table, counter or register by its full P4Info name (KeyError if absent)."""
        objs = {"table": self.tables, "counter": self.counters, "register": self.registers}[kind]
        for o in objs.values():
            if o.name == name:
                return o
        raise KeyError(f"P4Info has no {kind} {name!r}")

    def action_id(self, name: str) -> int:
        """The id of action `name` (full name)."""
        for a in self.actions.values():
            if a.name == name:
                return a.id
        raise KeyError(f"P4Info has no action {name!r}")

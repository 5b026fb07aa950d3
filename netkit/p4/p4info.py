"""P4Info: loading the text format, p4c's id conventions, name/id lookups and P4Runtime bytestrings."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from p4.config.v1 import p4info_pb2

# p4c's id prefixes (p4.config.v1.P4Ids.Prefix): the top byte of every id names the kind of object.
PREFIX = {
    "action": p4info_pb2.P4Ids.ACTION,
    "table": p4info_pb2.P4Ids.TABLE,
    "controller_header": p4info_pb2.P4Ids.CONTROLLER_HEADER,
    "counter": p4info_pb2.P4Ids.COUNTER,
    "direct_counter": p4info_pb2.P4Ids.DIRECT_COUNTER,
    "register": p4info_pb2.P4Ids.REGISTER,
}


def jenkins_one_at_a_time(name: str) -> int:
    """The 32-bit hash p4c's P4RuntimeSymbolTable uses for resource names."""
    h = 0
    for c in name.encode():
        h = (h + c) & 0xFFFFFFFF
        h = (h + (h << 10)) & 0xFFFFFFFF
        h ^= h >> 6
    h = (h + (h << 3)) & 0xFFFFFFFF
    h ^= h >> 11
    return (h + (h << 15)) & 0xFFFFFFFF


def p4c_ids(kind: str, names: list[str], taken: set[int] | None = None) -> dict[str, int]:
    """Ids p4c assigns to `names` of one kind: prefix << 24 | hash & 0xffffff, linear probing in name order."""
    taken = set() if taken is None else taken
    out = {}
    for name in sorted(names):
        low = jenkins_one_at_a_time(name) & 0xFFFFFF
        while ((PREFIX[kind] << 24) | low) in taken:
            low = (low + 1) & 0xFFFFFF
        out[name] = (PREFIX[kind] << 24) | low
        taken.add(out[name])
    return out


def load_p4info(path: str | Path) -> p4info_pb2.P4Info:
    """Parse a text-format P4Info file; ValueError naming the file on bad content."""
    path = Path(path)
    info = p4info_pb2.P4Info()
    try:
        text_format.Merge(path.read_text(), info, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise ValueError(f"{path}: not a text-format P4Info: {exc}") from None
    return info


def to_text(info: p4info_pb2.P4Info) -> str:
    """Text format of a P4Info, as p4c writes it with --p4runtime-files NAME.txtpb."""
    return text_format.MessageToString(info)


def nbytes(bitwidth: int) -> int:
    """Bytes of a bitstring of `bitwidth` bits."""
    return (bitwidth + 7) // 8


def encode(value: int, bitwidth: int) -> bytes:
    """The canonical P4Runtime bytestring of `value`: big-endian, no leading zero bytes (0 is b'\\x00')."""
    if value < 0 or value >> bitwidth:
        raise ValueError(f"value {value} does not fit in {bitwidth} bits")
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def decode(data: bytes, bitwidth: int, what: str) -> int:
    """The integer of a bytestring; ValueError when it is empty or its value needs more than `bitwidth` bits.

    Canonical (shortest) and zero-padded forms are both accepted, as the P4Runtime spec asks of servers.
    """
    if not data:
        raise ValueError(f"{what}: empty bytestring")
    value = int.from_bytes(data, "big")
    if value >> bitwidth:
        raise ValueError(f"{what}: value 0x{data.hex()} does not fit in {bitwidth} bits")
    return value


@dataclass
class P4InfoIndex:
    """Name and id lookups over one P4Info (what a controller or a switch needs at run time)."""

    info: p4info_pb2.P4Info
    by_id: dict[int, object] = field(default_factory=dict)
    by_name: dict[tuple[str, str], object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds = {"tables": "table", "actions": "action", "counters": "counter", "registers": "register",
                 "direct_counters": "direct_counter", "controller_packet_metadata": "controller_header"}
        for attr, kind in kinds.items():
            for obj in getattr(self.info, attr):
                self.by_id[obj.preamble.id] = obj
                for key in (obj.preamble.name, obj.preamble.alias):
                    if key:
                        self.by_name.setdefault((kind, key), obj)

    def get(self, kind: str, name: str):
        """The P4Info object of `kind` called `name` (full name or alias); KeyError if none."""
        try:
            return self.by_name[(kind, name)]
        except KeyError:
            raise KeyError(f"P4Info has no {kind} named {name!r}") from None

    def id(self, kind: str, name: str) -> int:
        """The id of the `kind` object called `name`."""
        return self.get(kind, name).preamble.id

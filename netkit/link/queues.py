"""Packet queues for `TraceLink`, with Mahimahi's semantics, and the `--queue` spec parser.

Byte sizes count what mm-link counts: the IP length plus the 4-byte TUN header
(`Packet.wire_bytes`). A queue never reads a clock: it is told `now` (µs).
`enqueue` returns the packets it dropped; `dequeue` returns the packet to send
(or None) and the packets it dropped on the way (AQMs drop at dequeue).
"""
from __future__ import annotations

import inspect
from collections import deque
from typing import Callable, ClassVar

from netkit.link.packet import Packet, mypyc_attr


class QueueSpecError(ValueError):
    """A `--queue` spec or queue argument that cannot be used; the message says which and why."""


@mypyc_attr(allow_interpreted_subclasses=True)
class PacketQueue:
    """Base FIFO with packet/byte accounting; subclasses decide what to drop."""

    name: ClassVar[str] = "infinite"

    def __init__(self) -> None:
        self._q: deque[Packet] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._q)

    @property
    def packets(self) -> int:
        """Packets currently queued (the packet in transit on the link is not counted)."""
        return len(self._q)

    def _accept(self, pkt: Packet) -> None:
        self._q.append(pkt)
        self.bytes += pkt.size + 4

    def _pop(self) -> Packet:
        pkt = self._q.popleft()
        self.bytes -= pkt.size + 4
        return pkt

    def peek(self) -> Packet | None:
        """The head packet without removing it."""
        return self._q[0] if self._q else None

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        """Add `pkt` (arrived at `now`); return the packets dropped because of it."""
        self._accept(pkt)
        return []

    def dequeue(self, now: int) -> tuple[Packet | None, list[Packet]]:
        """Remove the next packet to transmit at `now`; also return packets dropped on the way."""
        if not self._q:
            return None, []
        return self._pop(), []

    def describe(self) -> str:
        """The queue as Mahimahi writes it in a log header (`# queue: ...`)."""
        return self.name


class InfiniteQueue(PacketQueue):
    """Unbounded FIFO (mm-link's default)."""


@mypyc_attr(allow_interpreted_subclasses=True)
class _LimitedQueue(PacketQueue):
    """A queue with Mahimahi's `packets=` and `bytes=` limits (0 means no limit)."""

    def __init__(self, packets: int = 0, bytes: int = 0) -> None:  # noqa: A002 - Mahimahi's argument name
        from netkit.link.aqm_args import limits  # imports this module, so not at the top

        super().__init__()
        self.packet_limit, self.byte_limit = limits(self.name, packets, bytes)

    def good_with(self, size_bytes: int, size_packets: int) -> bool:
        """Mahimahi's `good_with`: would the queue be within its limits at this size."""
        if self.byte_limit and size_bytes > self.byte_limit:
            return False
        if self.packet_limit and size_packets > self.packet_limit:
            return False
        return True

    def describe(self) -> str:
        args = []
        if self.byte_limit:
            args.append(f"bytes={self.byte_limit}")
        if self.packet_limit:
            args.append(f"packets={self.packet_limit}")
        return f"{self.name} [{', '.join(args)}]"


class DropTailQueue(_LimitedQueue):
    """Drops the arriving packet when it would exceed a limit."""

    name = "droptail"

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        if self.good_with(self.bytes + pkt.size + 4, len(self._q) + 1):
            self._accept(pkt)
            return []
        return [pkt]


class DropHeadQueue(_LimitedQueue):
    """Accepts the arriving packet, then drops from the head until within limits."""

    name = "drophead"

    def enqueue(self, pkt: Packet, now: int) -> list[Packet]:
        self._accept(pkt)
        dropped = []
        while not self.good_with(self.bytes, len(self._q)):
            dropped.append(self._pop())
        return dropped


QueueFactory = Callable[..., PacketQueue]
QUEUE_TYPES: dict[str, QueueFactory] = {
    "infinite": InfiniteQueue,
    "droptail": DropTailQueue,
    "drophead": DropHeadQueue,
}


def register_queue(name: str, factory: QueueFactory) -> None:
    """Make a queue selectable by name in `--queue` specs and experiment files."""
    QUEUE_TYPES[name] = factory


def _parse_value(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_queue_spec(spec: str) -> tuple[str, dict[str, int | float | str]]:
    """Split `name[:key=val,key=val]` (also Mahimahi's `name` + `key=val,...`) into name and args."""
    name, _, argtext = spec.strip().partition(":")
    name = name.strip().lower()
    args: dict[str, int | float | str] = {}
    for part in filter(None, (p.strip() for p in argtext.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise QueueSpecError(f"--queue {spec!r}: argument {part!r} is not key=value")
        if key.strip() in args:
            raise QueueSpecError(f"--queue {spec!r}: {key.strip()}= is given twice; give each argument once")
        args[key.strip()] = _parse_value(value.strip())
    return name, args


def make_queue(spec: str | PacketQueue | None, seed: int | None = None) -> PacketQueue:
    """Build a queue from a spec such as `droptail:packets=100` or `dualpi2:target=15`.

    `seed` is passed to queues that draw random numbers (PIE, DualPI2) unless the
    spec sets `seed=` itself.
    """
    _ensure_aqms_registered()
    if spec is None:
        return InfiniteQueue()
    if isinstance(spec, PacketQueue):
        return spec
    name, args = parse_queue_spec(spec)
    factory = QUEUE_TYPES.get(name)
    if factory is None:
        known = ", ".join(sorted(QUEUE_TYPES))
        raise QueueSpecError(f"--queue {spec!r}: unknown queue {name!r}; expected one of {known}")
    accepted = _arguments_of(factory)
    unknown = [k for k in args if accepted is not None and k not in accepted]
    if unknown:
        allowed = ", ".join(f"{a}=" for a in accepted or ()) or "no arguments"
        raise QueueSpecError(f"--queue {spec!r}: {name} has no argument {unknown[0]}=; expected {allowed}")
    if seed is not None and "seed" not in args and accepted is not None and "seed" in accepted:
        args["seed"] = seed
    try:
        return factory(**args)
    except TypeError as exc:
        raise QueueSpecError(f"--queue {spec!r}: {exc}") from None


def _arguments_of(factory: QueueFactory) -> tuple[str, ...] | None:
    """The keyword arguments a queue factory takes (None: it takes any, `**kwargs`)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                        inspect.Parameter.KEYWORD_ONLY))


def _ensure_aqms_registered() -> None:
    # The AQM modules register themselves on import; import them lazily to keep this module small.
    import importlib

    for module in ("netkit.link.codel", "netkit.link.pie", "netkit.link.dualpi2"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise

"""Sans-I/O KV streaming protocol over any reliable byte stream (netkit's stream in the simulator, kernel TCP live).

Messages (little-endian, one type byte first)::

    REQUEST    client -> server   u32 context_id, u64 ttft_target_us
    META       server -> client   u32 context_id, u32 n_chunks
    CHUNK      server -> client   u32 index, u8 option, u32 length, then `length` payload bytes
    CHUNK_ACK  client -> server   u32 index            (sent the moment a chunk has fully arrived)

Like h11, the two ends are byte-in / byte-out state machines told the time:
``receive_data(data, now_us)`` and ``data_to_send(now_us) -> bytes``. The server
keeps at most ``max_outstanding`` chunks written but not acknowledged and asks its
controller for each chunk's option at the moment it writes it. The client models
the receiver's processing pipeline: chunk i is decoded (KV options) or recomputed
(text) once it has arrived and chunk i-1 is processed, so processing overlaps
receiving; the request is done (first token can be generated) when the last
chunk is processed. Processing times come from a :data:`Processor` (the measured
profile, or real ``decode_chunk`` calls timed on the spot).
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = [
    "OPTION_CODES", "option_code", "option_name", "ProtocolError",
    "Request", "Meta", "Chunk", "ChunkAck", "MessageReader",
    "encode_request", "encode_meta", "encode_chunk_header", "encode_chunk_ack",
    "ChunkSource", "SyntheticChunkSource", "BlobChunkSource", "synthetic_payload", "check_synthetic_payload",
    "Processor", "profile_processor", "decode_processor",
    "ChunkRecord", "KVStreamServer", "ClientChunk", "KVStreamClient",
]

#: Wire code of every option name a CHUNK can carry.
OPTION_CODES: dict[str, int] = {**{f"kvstream-L{i}": i for i in range(16)},
                                **{f"kvstream-klt-L{i}": 16 + i for i in range(16)},
                                "int8": 32, "fp16": 33, "zstd": 34, "text": 48}
_NAMES = {v: k for k, v in OPTION_CODES.items()}

REQUEST, META, CHUNK, CHUNK_ACK = 1, 2, 3, 4
_REQUEST = struct.Struct("<BIQ")
_META = struct.Struct("<BII")
_CHUNK = struct.Struct("<BIBI")
_ACK = struct.Struct("<BI")
_SIZES = {REQUEST: _REQUEST.size, META: _META.size, CHUNK: _CHUNK.size, CHUNK_ACK: _ACK.size}


class ProtocolError(ValueError):
    """The peer sent bytes that are not a valid message (or a message out of place)."""


def option_code(name: str) -> int:
    """Wire code of an option name: ``kvstream-L<n>``, ``kvstream-klt-L<n>``, ``int8``, ``fp16``, ``zstd``, ``text``."""
    try:
        return OPTION_CODES[name]
    except KeyError:
        raise ValueError(f"unknown option {name!r}; known: {sorted(OPTION_CODES)}") from None


def option_name(code: int) -> str:
    """Option name of a wire code."""
    try:
        return _NAMES[code]
    except KeyError:
        raise ProtocolError(f"unknown option code {code}") from None


@dataclass(frozen=True)
class Request:
    """The client asks for a context's KV and states its time-to-first-token target."""

    context_id: int
    target_us: int


@dataclass(frozen=True)
class Meta:
    """The server announces how many chunks the context has."""

    context_id: int
    n_chunks: int


@dataclass(frozen=True)
class Chunk:
    """One complete chunk (``payload`` is None when the reader was told not to keep payloads)."""

    index: int
    option: str
    length: int
    payload: bytes | None
    head: bytes  # the first bytes of the payload (kept even when payloads are not)


@dataclass(frozen=True)
class ChunkAck:
    """The client has received chunk ``index`` completely."""

    index: int


def encode_request(context_id: int, target_us: int) -> bytes:
    """REQUEST message bytes."""
    return _REQUEST.pack(REQUEST, context_id, target_us)


def encode_meta(context_id: int, n_chunks: int) -> bytes:
    """META message bytes."""
    return _META.pack(META, context_id, n_chunks)


def encode_chunk_header(index: int, option: str, length: int) -> bytes:
    """CHUNK header bytes (the payload follows)."""
    return _CHUNK.pack(CHUNK, index, option_code(option), length)


def encode_chunk_ack(index: int) -> bytes:
    """CHUNK_ACK message bytes."""
    return _ACK.pack(CHUNK_ACK, index)


_HEAD_KEEP = 64


class MessageReader:
    """Incremental parser: feed stream bytes, get whole messages back.

    CHUNK payloads (megabytes) are collected as a list of pieces and joined once,
    or only counted when ``keep_payloads`` is False (the simulator's synthetic
    payloads), so a large chunk costs no quadratic copying.
    """

    def __init__(self, keep_payloads: bool = True) -> None:
        self.keep_payloads = keep_payloads
        self._buf = bytearray()
        self._chunk: tuple[int, str, int] | None = None  # index, option, length of the chunk being read
        self._pieces: list[bytes] = []
        self._head = bytearray()
        self._got = 0

    def feed(self, data: bytes) -> list[Request | Meta | Chunk | ChunkAck]:
        """Consume ``data``; return every message it completes, in order."""
        out: list[Request | Meta | Chunk | ChunkAck] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        while True:
            if self._chunk is not None:
                if pos >= end:
                    break
                pos = self._take_payload(view, pos, out)
                continue
            if not self._buf:
                if pos >= end:
                    break
                self._buf.append(view[pos])
                pos += 1
            size = _SIZES.get(self._buf[0])
            if size is None:
                raise ProtocolError(f"unknown message type {self._buf[0]}")
            take = min(size - len(self._buf), end - pos)
            self._buf += view[pos:pos + take]
            pos += take
            if len(self._buf) < size:
                break
            self._header(bytes(self._buf), out)
            self._buf.clear()
        return out

    def _header(self, buf: bytes, out: list) -> None:
        kind = buf[0]
        if kind == REQUEST:
            _, cid, target = _REQUEST.unpack(buf)
            out.append(Request(cid, target))
        elif kind == META:
            _, cid, n = _META.unpack(buf)
            out.append(Meta(cid, n))
        elif kind == CHUNK_ACK:
            out.append(ChunkAck(_ACK.unpack(buf)[1]))
        else:
            _, index, code, length = _CHUNK.unpack(buf)
            self._chunk = (index, option_name(code), length)
            self._pieces, self._head, self._got = [], bytearray(), 0
            if length == 0:
                self._finish(out)

    def _take_payload(self, view: memoryview, pos: int, out: list) -> int:
        index, option, length = self._chunk  # type: ignore[misc]
        n = min(length - self._got, len(view) - pos)
        piece = view[pos:pos + n]
        if len(self._head) < _HEAD_KEEP:
            self._head += piece[:_HEAD_KEEP - len(self._head)]
        if self.keep_payloads:
            self._pieces.append(bytes(piece))
        self._got += n
        if self._got == length:
            self._finish(out)
        return pos + n

    def _finish(self, out: list) -> None:
        index, option, length = self._chunk  # type: ignore[misc]
        payload = b"".join(self._pieces) if self.keep_payloads else None
        out.append(Chunk(index, option, length, payload, bytes(self._head)))
        self._chunk, self._pieces = None, []


# -- what the server sends --------------------------------------------------------------------------------------

class ChunkSource(Protocol):
    """The server's store of pre-encoded chunks: every option of every chunk."""

    @property
    def n_chunks(self) -> int:
        """Chunks in the context."""
        ...

    def payload(self, index: int, option: str) -> bytes:
        """Bytes of chunk ``index`` encoded with ``option``."""
        ...


_TAG = struct.Struct("<4sIBxxx")
_TAG_MAGIC = b"KVSP"


def synthetic_payload(index: int, option: str, size: int) -> bytes:
    """A payload of exactly ``size`` bytes tagged with its chunk index and option (then zeros).

    The simulator streams these in place of real encodings of the profiled sizes;
    :func:`check_synthetic_payload` lets the receiver verify it got the right one.
    """
    tag = _TAG.pack(_TAG_MAGIC, index, option_code(option))
    if size < len(tag):
        return tag[:size]
    return tag + bytes(size - len(tag))


def check_synthetic_payload(head: bytes, index: int, option: str) -> bool:
    """Whether a payload's first bytes are the tag :func:`synthetic_payload` wrote for (index, option)."""
    tag = _TAG.pack(_TAG_MAGIC, index, option_code(option))
    n = min(len(tag), len(head))
    return head[:n] == tag[:n]


class SyntheticChunkSource:
    """Chunks of the sizes a profile measured, as tagged synthetic payloads.

    ``sizes(index, option) -> bytes`` is usually ``StreamProfile.size``.
    """

    def __init__(self, n_chunks: int, sizes: Callable[[int, str], int]) -> None:
        self._n = n_chunks
        self._sizes = sizes

    @property
    def n_chunks(self) -> int:
        """Chunks in the context."""
        return self._n

    def payload(self, index: int, option: str) -> bytes:
        """A tagged payload of the profiled size."""
        return synthetic_payload(index, option, self._sizes(index, option))


class BlobChunkSource:
    """Real encoded chunks: ``blobs[option][index]`` (e.g. from ``chunks.encode_levels`` and ``encode_chunks``)."""

    def __init__(self, blobs: dict[str, list[bytes]]) -> None:
        counts = {len(v) for v in blobs.values()}
        if len(counts) != 1:
            raise ValueError(f"every option needs the same number of chunks, got {sorted(counts)}")
        self.blobs = blobs

    @property
    def n_chunks(self) -> int:
        """Chunks in the context."""
        return len(next(iter(self.blobs.values())))

    def payload(self, index: int, option: str) -> bytes:
        """The encoded blob."""
        try:
            return self.blobs[option][index]
        except KeyError:
            raise ValueError(f"no blobs for option {option!r}; have {sorted(self.blobs)}") from None


@dataclass
class ChunkRecord:
    """What the server knows about one chunk it wrote."""

    index: int
    option: str
    size: int
    written_us: int
    acked_us: int | None = None


class _Controller(Protocol):
    """What the server needs from a controller (:class:`~.controller.ControllerBase`)."""

    def start(self, now_us: int, target_us: int, n_chunks: int) -> None:
        """A request arrived."""

    def choose(self, index: int, now_us: int) -> str:
        """Option of the chunk about to be written."""

    def on_sent(self, index: int, option: str, size: int, now_us: int) -> None:
        """A chunk was written."""

    def on_ack(self, index: int, now_us: int) -> None:
        """A CHUNK_ACK arrived."""


class KVStreamServer:
    """Serves one request: META, then chunks, at most ``max_outstanding`` unacknowledged at a time.

    ``controller`` (see :mod:`.controller`) picks each chunk's option when the
    chunk is written and is told of every write and every CHUNK_ACK.
    """

    def __init__(self, source: ChunkSource, controller: _Controller, max_outstanding: int = 2) -> None:
        if max_outstanding < 1:
            raise ValueError("max_outstanding must be >= 1")
        self.source = source
        self.controller = controller
        self.max_outstanding = max_outstanding
        self.reader = MessageReader()
        self.request: Request | None = None
        self.request_us: int | None = None
        self.records: list[ChunkRecord] = []
        self.done_us: int | None = None
        self._out: list[bytes] = []
        self._acked = 0

    @property
    def outstanding(self) -> int:
        """Chunks written and not yet acknowledged."""
        return len(self.records) - self._acked

    def receive_data(self, data: bytes, now_us: int) -> None:
        """Bytes from the client: a REQUEST starts the stream, CHUNK_ACKs free the window."""
        for msg in self.reader.feed(data):
            if isinstance(msg, Request):
                if self.request is not None:
                    raise ProtocolError("second REQUEST on one connection")
                self.request, self.request_us = msg, now_us
                n = self.source.n_chunks
                self.controller.start(now_us, msg.target_us, n)
                self._out.append(encode_meta(msg.context_id, n))
            elif isinstance(msg, ChunkAck):
                if msg.index >= len(self.records) or self.records[msg.index].acked_us is not None:
                    raise ProtocolError(f"CHUNK_ACK for chunk {msg.index}, which is not outstanding")
                self.records[msg.index].acked_us = now_us
                self._acked += 1
                self.controller.on_ack(msg.index, now_us)
                if self._acked == self.source.n_chunks:
                    self.done_us = now_us
            else:
                raise ProtocolError(f"server got a {type(msg).__name__}")
        self._fill(now_us)

    def data_to_send(self, now_us: int) -> bytes:
        """Bytes to write to the stream now."""
        self._fill(now_us)
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _fill(self, now_us: int) -> None:
        if self.request is None:
            return
        n = self.source.n_chunks
        while len(self.records) < n and self.outstanding < self.max_outstanding:
            index = len(self.records)
            option = self.controller.choose(index, now_us)
            payload = self.source.payload(index, option)
            self._out.append(encode_chunk_header(index, option, len(payload)))
            self._out.append(payload)
            self.records.append(ChunkRecord(index, option, len(payload), now_us))
            self.controller.on_sent(index, option, len(payload), now_us)


# -- the receiving side -----------------------------------------------------------------------------------------

#: ``(index, option, payload or None) -> processing µs`` for one chunk.
Processor = Callable[[int, str, "bytes | None"], int]


def profile_processor(process_us: Callable[[int, str], int]) -> Processor:
    """Processing times from a measured profile (``StreamProfile.process_us``)."""
    return lambda index, option, payload: int(process_us(index, option))


def decode_processor(recompute_us: Callable[[int, str], int] | None = None,
                     sink: Callable[[int, str, np.ndarray], None] | None = None, *,
                     timer: Callable[[], float]) -> Processor:
    """Decode real KV payloads with ``decode_chunk`` and time the call; text chunks cost ``recompute_us``.

    ``sink(index, option, array)`` receives every decoded chunk (KV, or token ids for text).
    ``timer()`` (seconds, e.g. ``time.perf_counter``) is the caller's clock: the core reads none itself.
    """
    from .codec import decode_chunk

    def run(index: int, option: str, payload: bytes | None) -> int:
        if payload is None:
            raise ValueError("decode_processor needs the payloads (keep_payloads=True)")
        t0 = timer()
        arr = decode_chunk(payload)
        took = int((timer() - t0) * 1e6)
        if sink is not None:
            sink(index, option, arr)
        if option == "text":
            return int(recompute_us(index, option)) if recompute_us else took
        return took

    return run


@dataclass
class ClientChunk:
    """One received chunk: its option, size, arrival and processing window."""

    index: int
    option: str
    size: int
    arrived_us: int
    process_start_us: int
    processed_us: int
    payload: bytes | None = None
    head: bytes = b""


@dataclass
class KVStreamClient:
    """Requests one context and reassembles its chunks; the receiver's processing is pipelined.

    ``processor`` gives each chunk's processing time. The REQUEST goes out on the
    first :meth:`data_to_send` call, whose time is the request time TTFT counts from.
    """

    context_id: int
    target_us: int
    processor: Processor
    keep_payloads: bool = False
    request_us: int | None = None
    n_chunks: int | None = None
    chunks: dict[int, ClientChunk] = field(default_factory=dict)
    done_us: int | None = None
    _reader: MessageReader | None = None
    _out: list[bytes] = field(default_factory=list)
    _busy_until: int = 0

    def __post_init__(self) -> None:
        self._reader = MessageReader(self.keep_payloads)

    @property
    def ttft_us(self) -> int | None:
        """Time from the request to the last chunk being processed (None until then)."""
        if self.done_us is None or self.request_us is None:
            return None
        return self.done_us - self.request_us

    def options(self) -> list[str]:
        """Option of every chunk, in index order (of those received)."""
        return [self.chunks[i].option for i in sorted(self.chunks)]

    def data_to_send(self, now_us: int) -> bytes:
        """The REQUEST (first call), then CHUNK_ACKs."""
        if self.request_us is None:
            self.request_us = now_us
            self._busy_until = now_us
            self._out.append(encode_request(self.context_id, self.target_us))
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes, now_us: int) -> None:
        """Bytes from the server: META, then chunks; each complete chunk is acknowledged at once."""
        for msg in self._reader.feed(data):  # type: ignore[union-attr]
            if isinstance(msg, Meta):
                if msg.context_id != self.context_id:
                    raise ProtocolError(f"META for context {msg.context_id}, asked for {self.context_id}")
                self.n_chunks = msg.n_chunks
            elif isinstance(msg, Chunk):
                self._on_chunk(msg, now_us)
            else:
                raise ProtocolError(f"client got a {type(msg).__name__}")

    def _on_chunk(self, msg: Chunk, now_us: int) -> None:
        if self.n_chunks is None:
            raise ProtocolError("CHUNK before META")
        if msg.index in self.chunks:
            raise ProtocolError(f"chunk {msg.index} arrived twice")
        if msg.index >= self.n_chunks:
            raise ProtocolError(f"chunk {msg.index} beyond the {self.n_chunks} announced")
        self._out.append(encode_chunk_ack(msg.index))
        # in index order: chunk i is processed after chunk i-1 (the stream delivers in order)
        start = max(now_us, self._busy_until)
        end = start + self.processor(msg.index, msg.option, msg.payload)
        self._busy_until = end
        self.chunks[msg.index] = ClientChunk(msg.index, msg.option, msg.length, now_us, start, end,
                                             msg.payload, msg.head)
        if len(self.chunks) == self.n_chunks:
            self.done_us = end

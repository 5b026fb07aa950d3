"""The chatbot baselines: tokens over a reliable in-order byte stream, optionally with every packet duplicated.

`retransmit` is what chatbots do today (server-sent events over TCP): each token is
written to the stream as it is generated, framed as one length byte plus its UTF-8
bytes; a lost packet is retransmitted and blocks every later token until it arrives.
netkit's reliable stream (RFC 9002 loss recovery, Cubic) stands in for TCP in the
simulator; in live runs the same sender runs over UDP sockets.

`duplicate` is the same stream with each datagram sent `copies` times back to back
(identical packet numbers, so the receiver counts them once); `copy_spacing_us`
sends copy k that much later instead (k x spacing), so one loss burst is less
likely to take every copy. The copies make a
loss unlikely to need a retransmission; when every copy is lost the stream's loss
recovery still repairs it, so no token is ever missing.
"""
from __future__ import annotations

from netkit.apps.tokenstream.eloquent import TokenSenderBase
from netkit.apps.tokenstream.render import RenderCallback, RenderLog
from netkit.transport.base import Datagram
from netkit.transport.stream import StreamReceiver, StreamSender


class StreamTokenSender(TokenSenderBase):
    """Writes length-framed tokens to a `StreamSender`; sends each datagram `copies` times."""

    def __init__(self, cc: str = "cubic", copies: int = 1, initial_rtt_us: int = 100_000,
                 copy_spacing_us: int = 0) -> None:
        super().__init__()
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        if copy_spacing_us < 0:
            raise ValueError(f"copy spacing must be >= 0 µs, got {copy_spacing_us}")
        self.copies = copies
        self.copy_spacing_us = copy_spacing_us  # 0: copies back to back; else copy k goes k * spacing later
        self._held: list[tuple[int, Datagram]] = []  # (due time, copy) of spaced copies, in due order
        self.stream = StreamSender(cc, initial_rtt_us=initial_rtt_us)

    def push(self, token: bytes, now: int) -> None:
        """Write one framed token to the stream."""
        super().push(token, now)
        self.stream.write(bytes((len(token),)) + token)

    def close(self, now: int) -> None:
        """Close the stream after the last token."""
        super().close(now)
        self.stream.close()

    @property
    def done(self) -> bool:
        """Every byte up to the stream's end was acknowledged."""
        return self.stream.done_at is not None

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """ACKs go to the stream."""
        self.stream.receive_datagram(data, now, ecn)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """The stream's datagrams, each repeated `copies` times."""
        out = self.stream.datagrams_to_send(now)
        if self.copies > 1 and self.copy_spacing_us:
            fresh = out
            out = [d for due, d in self._held if due <= now] + fresh
            self._held = [(due, d) for due, d in self._held if due > now]
            self._held += [(now + k * self.copy_spacing_us, d) for d in fresh for k in range(1, self.copies)]
            self._held.sort(key=lambda x: x[0])
        elif self.copies > 1:
            out = [d for d in out for _ in range(self.copies)]
        for d in out:
            self._count(d.data)
        return out

    def get_timer(self) -> int | None:
        """The stream's loss-detection and probe timers, and the next spaced copy."""
        t = self.stream.get_timer()
        if self._held:
            return self._held[0][0] if t is None else min(t, self._held[0][0])
        return t

    def handle_timer(self, now: int) -> None:
        """Fire the stream's timer (a spaced copy that is due goes out in the next `datagrams_to_send`)."""
        t = self.stream.get_timer()
        if t is not None and now >= t:
            self.stream.handle_timer(now)


class TokenDeframer:
    """Splits an in-order byte stream back into length-framed tokens and renders them."""

    def __init__(self, log: RenderLog) -> None:
        self.log = log
        self.next_index = 0
        self._buf = bytearray()

    def feed(self, chunk: bytes, now: int) -> None:
        """Bytes delivered in order at `now`; render every token they complete."""
        buf = self._buf
        buf += chunk
        pos = 0
        while pos < len(buf) and pos + 1 + buf[pos] <= len(buf):
            n = buf[pos]
            self.log.render(self.next_index, bytes(buf[pos + 1:pos + 1 + n]), now)
            self.next_index += 1
            pos += 1 + n
        del buf[:pos]


class StreamTokenReceiver:
    """A `StreamReceiver` whose in-order bytes are rendered token by token."""

    def __init__(self, on_render: RenderCallback | None = None) -> None:
        self.log = RenderLog(on_render)
        self.deframer = TokenDeframer(self.log)
        self.stream = StreamReceiver(on_data=self.deframer.feed)

    @property
    def finished_at(self) -> int | None:
        """When the stream's last byte was delivered."""
        return self.stream.finished_at

    @property
    def end(self) -> int | None:
        """Number of tokens once the stream has ended."""
        return self.deframer.next_index if self.stream.finished_at is not None else None

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Data packets go to the stream."""
        self.stream.receive_datagram(data, now, ecn)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """The stream's ACKs."""
        return self.stream.datagrams_to_send(now)

    def get_timer(self) -> int | None:
        """The delayed-ACK timer."""
        return self.stream.get_timer()

    def handle_timer(self, now: int) -> None:
        """Fire the delayed-ACK timer."""
        self.stream.handle_timer(now)

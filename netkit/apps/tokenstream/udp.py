"""The plain-UDP reference: each token is sent once, never repeated, never acknowledged.

The client renders whatever arrives, in index order, and gives up on any earlier
token still missing (it would otherwise wait forever). It is the latency floor a
loss-free path would give, not a usable scheme: lost tokens are holes in the text.
"""
from __future__ import annotations

from netkit.apps.tokenstream.eloquent import TokenSenderBase
from netkit.apps.tokenstream.render import RenderCallback, RenderLog
from netkit.apps.tokenstream.wire import TOKENS, PacketBudget, TokenWireError, decode_tokens, encode_tokens
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram


class UdpSender(TokenSenderBase):
    """One datagram per batch of new tokens; the end is announced once in the last datagram (or its own)."""

    def __init__(self, max_payload: int = MAX_DATAGRAM_PAYLOAD) -> None:
        super().__init__()
        self.max_payload = max_payload
        self._next_new = 0
        self._end_sent = False
        self._pn = 0

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """No feedback is used."""

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Datagrams for the tokens generated since the last call."""
        out: list[Datagram] = []
        texts = self.texts
        while self._next_new < len(texts) or (self.end is not None and not self._end_sent):
            budget = PacketBudget(self.max_payload, with_end=self.end is not None)
            i = self._next_new
            while i < len(texts) and budget.try_add(i, texts[i]):
                i += 1
            self._next_new = i
            data = encode_tokens(self._pn, budget.tokens, self.end)
            self._pn += 1
            if self.end is not None:
                self._end_sent = True
            self._count(data)
            out.append(Datagram(data))
        return out

    @property
    def done(self) -> bool:
        """Everything has been sent once."""
        return self.end is not None and self._end_sent

    def get_timer(self) -> int | None:
        """No timers."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""


class UdpReceiver:
    """Renders each arriving token unless a later one was already rendered; sends nothing back."""

    def __init__(self, on_render: RenderCallback | None = None) -> None:
        self.log = RenderLog(on_render)
        self.next_index = 0
        self.end: int | None = None
        self.finished_at: int | None = None
        self.packets_received = 0

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Render the tokens of one datagram."""
        if not data or data[0] != TOKENS:
            return
        try:
            _, end, tokens = decode_tokens(data)
        except TokenWireError:
            return
        self.packets_received += 1
        if end is not None:
            self.end = end
        for index, text in tokens:
            if index >= self.next_index:
                self.log.render(index, text, now)
                self.next_index = index + 1
        if self.finished_at is None and self.end is not None:
            self.finished_at = now

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Nothing: no acknowledgements."""
        return []

    def get_timer(self) -> int | None:
        """No timers."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""

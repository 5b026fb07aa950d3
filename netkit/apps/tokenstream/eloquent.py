"""Eloquent (Li et al., 2024): every packet carries the new tokens plus unacknowledged ones.

Sender policy, per packet: first the tokens generated since the last packet, then
the oldest unacknowledged tokens until the next one would not fit in `max_payload`
bytes. Oldest first because the client renders in order: the oldest missing token
is the one blocking the display, and a newer token is useless without it. When the
server is idle with tokens still unacknowledged (the end of a response, or a pause
in generation), a probe timer (RFC 9002-style PTO with exponential backoff) sends a
packet of the oldest unacknowledged tokens. There is no congestion window: token
streams are tens of packets per second and at most one MTU each.

The receiver renders every token as soon as all earlier tokens are present, and
acknowledges every packet at once with its rendered prefix and the tokens it holds
beyond it.
"""
from __future__ import annotations

from netkit.apps.tokenstream.render import InOrderAssembler, RenderCallback, RenderLog
from netkit.apps.tokenstream.tokens import MAX_TOKEN_BYTES
from netkit.apps.tokenstream.wire import (
    ACK, RUN, TOKENS, PacketBudget, TokenWireError, decode_ack, decode_tokens, encode_ack, encode_tokens,
    header_size,
)
from netkit.link.packet import IP_UDP_HEADER_BYTES
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD, Datagram
from netkit.transport.rtt import RttEstimator

MAX_BACKOFF = 6  # probe timeouts double at most this many times (PTO x 64)
MIN_PAYLOAD = header_size(True) + RUN.size + 1 + MAX_TOKEN_BYTES  # one token of any size must fit


class TokenSenderBase:
    """What every token sender shares: the pushed tokens, `close`, and send statistics."""

    def __init__(self) -> None:
        self.texts: list[bytes] = []
        self.end: int | None = None
        self.packets_sent = 0
        self.bytes_sent = 0  # IP bytes (payload + IPv4/UDP headers) of data packets
        self.max_datagram = 0

    def push(self, token: bytes, now: int) -> None:
        """The model generated `token` (UTF-8 bytes) at `now`."""
        if self.end is not None:
            raise RuntimeError("push() after close()")
        if len(token) > MAX_TOKEN_BYTES:
            raise ValueError(f"token of {len(token)} bytes; at most {MAX_TOKEN_BYTES} fit its length field")
        self.texts.append(bytes(token))

    def close(self, now: int) -> None:
        """The response is complete."""
        if self.end is None:
            self.end = len(self.texts)

    def _count(self, data: bytes) -> None:
        self.packets_sent += 1
        self.bytes_sent += len(data) + IP_UDP_HEADER_BYTES
        if len(data) > self.max_datagram:
            self.max_datagram = len(data)


class EloquentSender(TokenSenderBase):
    """Sends new tokens with the oldest unacknowledged ones; trims the unacknowledged set on ACKs."""

    def __init__(self, max_payload: int = MAX_DATAGRAM_PAYLOAD, initial_rtt_us: int = 100_000,
                 repair_after_us: int | None = None, repair_gaps: float | None = None,
                 tail_repair_gaps: float | None = None) -> None:
        super().__init__()
        if repair_after_us is not None and repair_after_us <= 0:
            raise ValueError(f"repair_after_us must be > 0 µs, got {repair_after_us}")
        for name, v in (("repair_gaps", repair_gaps), ("tail_repair_gaps", tail_repair_gaps)):
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        # When no new token follows a packet: with neither option, the unacknowledged tokens wait for
        # the next token or the probe timeout (>= one RTT, doubling). `repair_after_us` re-sends them
        # once, that long after each packet with new tokens; `repair_gaps` once the next token is
        # overdue by that many smoothed inter-token gaps, and again at that interval until
        # acknowledged (docs/tokenstream.md, "Eloquent against duplication"). `tail_repair_gaps`: the
        # same, but only once the answer is complete (its timing then depends on nothing but the
        # last token, so live runs keep the simulator's packet sequence).
        self.repair_after_us = repair_after_us
        self.repair_gaps = repair_gaps
        self.tail_repair_gaps = tail_repair_gaps
        self._gap_us: float | None = None  # smoothed gap between pushed tokens
        self._last_push: int | None = None
        self._repair_armed = False
        self.repairs_sent = 0
        if not MIN_PAYLOAD <= max_payload <= MAX_DATAGRAM_PAYLOAD:
            raise ValueError(f"max_payload must be {MIN_PAYLOAD}..{MAX_DATAGRAM_PAYLOAD} bytes, got {max_payload}")
        self.max_payload = max_payload
        self.rtt = RttEstimator(initial_rtt_us)
        self._next_new = 0  # first token never sent
        self._cum = 0  # every token below is acknowledged
        self._sacked: set[int] = set()  # acknowledged tokens at or above _cum
        self._end_sent = False
        self._end_acked = False
        self._pn = 0
        self._sent_times: dict[int, int] = {}
        self._largest_acked_pn = -1
        self._last_send: int | None = None
        self._backoff = 0
        self._probe = False
        self._repair = False
        self.probes_sent = 0
        self.tokens_carried = 0  # token copies sent, counting re-sent unacknowledged ones

    def push(self, token: bytes, now: int) -> None:
        """The model generated `token` (UTF-8 bytes) at `now`; updates the smoothed token gap."""
        super().push(token, now)
        if self._last_push is not None:
            gap = now - self._last_push
            self._gap_us = gap if self._gap_us is None else self._gap_us + (gap - self._gap_us) / 8
        self._last_push = now

    def _repair_delay(self) -> int | None:
        if self.repair_after_us is not None:
            return self.repair_after_us
        gaps = self.repair_gaps if self.repair_gaps is not None else (
            self.tail_repair_gaps if self.end is not None else None)
        if gaps is not None and self._gap_us is not None:
            return max(1000, int(gaps * self._gap_us))
        return None

    # -- state the tests and metrics look at ------------------------------------------------
    @property
    def unacked(self) -> list[int]:
        """Indices of sent tokens not yet acknowledged, ascending."""
        return [i for i in range(self._cum, self._next_new) if i not in self._sacked]

    @property
    def done(self) -> bool:
        """Closed, every token acknowledged and the end acknowledged."""
        return self.end is not None and self._cum >= self.end and self._end_acked

    # -- sans-I/O interface -----------------------------------------------------------------
    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Process a token ACK: take an RTT sample and trim the unacknowledged set."""
        if not data or data[0] != ACK:
            return
        try:
            largest, cum, ranges, end_known = decode_ack(data)
        except TokenWireError:
            return
        if largest > self._largest_acked_pn:
            self._largest_acked_pn = largest
            sent = self._sent_times.get(largest)
            if sent is not None:
                self.rtt.update(now - sent)
            for pn in [p for p in self._sent_times if p <= largest]:
                del self._sent_times[pn]
        before = (self._cum, len(self._sacked), self._end_acked)
        cum = min(cum, self._next_new)
        if cum > self._cum:
            self._cum = cum
            self._sacked = {i for i in self._sacked if i >= cum}
        for lo, hi in ranges:
            for i in range(max(lo, self._cum), min(hi + 1, self._next_new)):
                self._sacked.add(i)
        while self._cum in self._sacked:
            self._sacked.discard(self._cum)
            self._cum += 1
        if end_known and self.end is not None:
            self._end_acked = True
        if (self._cum, len(self._sacked), self._end_acked) != before:
            self._backoff = 0

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """One packet per batch of new tokens (more if they overflow the MTU), or a probe when due."""
        out: list[Datagram] = []
        texts = self.texts
        while self._next_new < len(texts) or self._probe or self._repair or \
                (self.end is not None and not self._end_sent):
            budget = PacketBudget(self.max_payload, with_end=self.end is not None)
            first_new = self._next_new
            i = first_new
            while i < len(texts) and budget.try_add(i, texts[i]):
                i += 1
            self._next_new = i
            for j in range(self._cum, first_new):
                if j not in self._sacked and not budget.try_add(j, texts[j]):
                    break
            data = encode_tokens(self._pn, budget.tokens, self.end)
            self._sent_times[self._pn] = now
            self._pn += 1
            self._last_send = now
            if self._probe and i == first_new:
                self.probes_sent += 1
            if self._repair and i == first_new and not self._probe:
                self.repairs_sent += 1
            self._repair = False
            # repairs repeat at the answer's own cadence until the tokens (and the end) are acknowledged:
            # never more packets than a continuing answer would send, and no exponential backoff, which
            # on LTE outages (RTT samples of seconds) left a lost last token unrepaired for tens of seconds
            # (a fixed `repair_after_us` re-sends once per packet with new tokens: the equal-packets variant)
            self._repair_armed = (self.repair_gaps is not None or self.tail_repair_gaps is not None) \
                if self.repair_after_us is None else i > first_new
            self._probe = False
            if self.end is not None:
                self._end_sent = True
            self.tokens_carried += len(budget.tokens)
            self._count(data)
            out.append(Datagram(data))
        return out

    def get_timer(self) -> int | None:
        """The probe timeout, while tokens or the end are unacknowledged."""
        if self._last_send is None:
            return None
        waiting = self._cum < self._next_new or (self.end is not None and not self._end_acked)
        if not waiting:
            return None
        pto = self._last_send + (self.rtt.pto(0) << min(self._backoff, MAX_BACKOFF))
        delay = self._repair_delay()
        if self._repair_armed and delay is not None:
            return min(pto, self._last_send + delay)
        return pto

    def handle_timer(self, now: int) -> None:
        """Probe timeout: the next `datagrams_to_send` sends the oldest unacknowledged tokens."""
        t = self.get_timer()
        if t is None or now < t:
            return
        if self._repair_armed and now < self._last_send + (self.rtt.pto(0) << min(self._backoff, MAX_BACKOFF)):
            self._repair = True  # a repair, not a probe: no backoff
        else:
            self._probe = True
            self._backoff += 1


class EloquentReceiver:
    """Renders tokens in order as soon as the prefix is complete; acknowledges every packet."""

    def __init__(self, on_render: RenderCallback | None = None, ack_every: int = 1) -> None:
        if ack_every < 1:
            raise ValueError(f"ack_every must be >= 1, got {ack_every}")
        self.ack_every = ack_every  # ACK every n-th packet (1: every packet, the default)
        self._unacked_packets = 0
        self.log = RenderLog(on_render)
        self.assembler = InOrderAssembler(self.log)
        self.end: int | None = None
        self.finished_at: int | None = None
        self.packets_received = 0
        self.tokens_received = 0  # token copies, counting repeats
        self._largest_pn = -1
        self._ack_due = False
        self.acks_sent = 0
        self.ack_bytes_sent = 0

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Take a token packet: render what it completes and schedule an ACK."""
        if not data or data[0] != TOKENS:
            return
        try:
            pn, end, tokens = decode_tokens(data)
        except TokenWireError:
            return
        self.packets_received += 1
        self.tokens_received += len(tokens)
        if end is not None:
            self.end = end
        for index, text in tokens:
            self.assembler.add(index, text, now)
        self._largest_pn = max(self._largest_pn, pn)
        self._unacked_packets += 1
        if self._unacked_packets >= self.ack_every or end is not None:
            self._ack_due = True
            self._unacked_packets = 0
        if self.finished_at is None and self.end is not None and self.assembler.next_index >= self.end:
            self.finished_at = now

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """An ACK for the packets received since the last one."""
        if not self._ack_due:
            return []
        self._ack_due = False
        data = encode_ack(self._largest_pn, self.assembler.next_index, self.assembler.held_ranges(),
                          self.end is not None)
        self.acks_sent += 1
        self.ack_bytes_sent += len(data) + IP_UDP_HEADER_BYTES
        return [Datagram(data)]

    def get_timer(self) -> int | None:
        """No timers: ACKs go out immediately."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""

"""`ScheduledSender`: an endpoint that feeds a token sender from a `TokenSchedule` at the scheduled times."""
from __future__ import annotations

from typing import Protocol

from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit.transport.base import Datagram, earliest


class TokenSender(Protocol):
    """A sans-I/O endpoint that is also handed tokens."""

    bytes_sent: int
    packets_sent: int

    def push(self, token: bytes, now: int) -> None:
        """A token was generated at `now`."""

    def close(self, now: int) -> None:
        """The response is complete."""

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Handle feedback."""

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Datagrams to send now."""

    def get_timer(self) -> int | None:
        """Next timer."""

    def handle_timer(self, now: int) -> None:
        """Timer fired."""


class ScheduledSender:
    """Pushes token i into `sender` at `start_us + schedule.offsets_us[i]` and closes after the last.

    Tokens are pushed in `datagrams_to_send`, one scheduled time at a time, and the
    sender is asked for its datagrams after each: tokens scheduled at different times
    leave in different packets even when a live driver wakes up late and finds several
    due, so a live run sends the same packet sequence as the simulator. `gen_us`
    records when each token was actually pushed (the scheduled time in the simulator,
    the driver's wake-up time live), which is what the metrics use.
    """

    def __init__(self, sender: TokenSender, schedule: TokenSchedule, start_us: int = 0) -> None:
        self.sender = sender
        self.schedule = schedule
        self.start_us = start_us
        self.gen_us: list[int] = []
        self._closed = False

    def _next_token_time(self) -> int | None:
        i = len(self.gen_us)
        return self.start_us + self.schedule.offsets_us[i] if i < len(self.schedule) else None

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Feedback goes to the token sender."""
        self.sender.receive_datagram(data, now, ecn)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Push the tokens due by `now`, a batch per scheduled time, collecting the sender's datagrams after each."""
        sched, offsets = self.schedule, self.schedule.offsets_us
        out: list[Datagram] = []
        i = len(self.gen_us)
        while i < len(sched) and self.start_us + offsets[i] <= now:
            t = offsets[i]
            while i < len(sched) and offsets[i] == t:
                self.sender.push(sched.tokens[i], now)
                self.gen_us.append(now)
                i += 1
            if i == len(sched) and not self._closed:
                self._closed = True
                self.sender.close(now)
            out += self.sender.datagrams_to_send(now)
        return out + self.sender.datagrams_to_send(now)

    def get_timer(self) -> int | None:
        """The earlier of the next token's generation time and the sender's own timer."""
        return earliest(self._next_token_time(), self.sender.get_timer())

    def handle_timer(self, now: int) -> None:
        """Fire the sender's timer if it is due (tokens due now go out in the next `datagrams_to_send`)."""
        t = self.sender.get_timer()
        if t is not None and t <= now:
            self.sender.handle_timer(now)

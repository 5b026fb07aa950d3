"""Run a sans-I/O endpoint on an asyncio loop over any message transport (a data channel, a UDP socket).

The endpoint is told the time as integer microseconds on the loop's clock,
relative to `t0` (loop.time() seconds), so several endpoints driven from one
process share one clock.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from netkit.transport.base import Endpoint


class AsyncioEndpointDriver:
    """Feeds `receive(data)` to the endpoint, sends what it returns through `send`, and keeps its timer armed."""

    def __init__(self, endpoint: Endpoint, send: Callable[[bytes], None], loop: asyncio.AbstractEventLoop,
                 t0: float) -> None:
        self.endpoint = endpoint
        self.send = send
        self.loop = loop
        self.t0 = t0
        self._handle: asyncio.TimerHandle | None = None
        self._armed: int | None = None
        self.datagrams_sent = 0
        self.bytes_sent = 0

    def now(self) -> int:
        """Microseconds since `t0` on the loop's clock."""
        return int((self.loop.time() - self.t0) * 1e6)

    def start(self) -> None:
        """Let the endpoint send its first datagrams and arm its timer."""
        self.pump()

    def receive(self, data: bytes) -> None:
        """A message arrived."""
        self.endpoint.receive_datagram(data, self.now())
        self.pump()

    def pump(self) -> None:
        """Send everything the endpoint has and re-arm its timer."""
        for d in self.endpoint.datagrams_to_send(self.now()):
            self.datagrams_sent += 1
            self.bytes_sent += len(d.data)
            self.send(d.data)
        t = self.endpoint.get_timer()
        if t == self._armed:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed = t
        if t is not None:
            self._handle = self.loop.call_at(self.t0 + t / 1e6, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # the loop fired us at the armed time; float rounding must not make the timer look early
        now = max(self.now(), self._armed or 0)
        self._armed = None
        t = self.endpoint.get_timer()
        if t is not None and t <= now:
            self.endpoint.handle_timer(now)
        self.pump()

    def stop(self) -> None:
        """Cancel the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

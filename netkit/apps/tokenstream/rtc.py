"""WebRTC demo with aiortc: Eloquent on an unordered, no-retransmit data channel; the baseline on a reliable one.

Two RTCPeerConnections (server and client) in one process connect over the host's
own addresses. The server streams a token schedule; the client renders. Loss is
injected on the server's outgoing SCTP packets (a seeded drop of whole packets
handed to DTLS) once the channel is open, so both schemes face the same loss rate.

* `eloquent`: channel `ordered=False, maxRetransmits=0` (PR-SCTP: SCTP never
  retransmits, messages are delivered as they arrive). The sans-I/O Eloquent
  sender and receiver run on top: token packets one way, ACKs the other.
* `reliable`: channel `ordered=True` and fully reliable, as a chatbot's ordered
  stream would be; each token is one message, SCTP repairs every loss.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender, TokenSenderBase
from netkit.apps.tokenstream.feeder import ScheduledSender
from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.render import RenderLog
from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit.transport.base import Datagram

RTC_SCHEMES = ("eloquent", "reliable")
_TOKEN, _END = b"T", b"E"


class MessageTokenSender(TokenSenderBase):
    """One message per token (then an end message) over a reliable ordered channel, which does the repair."""

    def __init__(self) -> None:
        super().__init__()
        self._next = 0
        self._end_sent = False

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """A message for each token generated since the last call."""
        out = [Datagram(_TOKEN + t) for t in self.texts[self._next:]]
        self._next = len(self.texts)
        if self.end is not None and not self._end_sent:
            self._end_sent = True
            out.append(Datagram(_END))
        for d in out:
            self._count(d.data)
        return out

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """No application-level feedback."""

    def get_timer(self) -> int | None:
        """No timers: the channel retransmits."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""


class MessageTokenReceiver:
    """Renders each token message as the next token (the channel delivers them in order)."""

    def __init__(self) -> None:
        self.log = RenderLog()
        self.finished_at: int | None = None
        self._next = 0

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Render a token or note the end."""
        if data[:1] == _TOKEN:
            self.log.render(self._next, data[1:], now)
            self._next += 1
        elif data[:1] == _END:
            self.finished_at = now

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Nothing to send."""
        return []

    def get_timer(self) -> int | None:
        """No timers."""
        return None

    def handle_timer(self, now: int) -> None:
        """Nothing to do."""


def _lossy(send, rng: random.Random, stats: dict[str, int]):
    async def send_data(data: bytes) -> None:
        stats["packets"] += 1
        stats["bytes"] += len(data)
        if rng.random() < stats["loss"]:
            stats["dropped"] += 1
            return
        await send(data)
    return send_data


async def stream_over_datachannel(scheme: str, schedule: TokenSchedule, loss: float = 0.1, seed: int = 0,
                                  timeout_s: float = 20.0) -> dict[str, Any]:
    """Connect two peers, stream `schedule` with `scheme`, and return the client's metrics."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    if scheme not in RTC_SCHEMES:
        raise ValueError(f"unknown WebRTC scheme {scheme!r}; expected one of {', '.join(RTC_SCHEMES)}")
    loop = asyncio.get_running_loop()
    server = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        if scheme == "eloquent":
            channel = server.createDataChannel("tokens", ordered=False, maxRetransmits=0)
        else:
            channel = server.createDataChannel("tokens", ordered=True)
        opened = loop.create_future()
        channel.on("open", lambda: opened.done() or opened.set_result(True))
        remote = loop.create_future()
        client.on("datachannel", lambda ch: remote.done() or remote.set_result(ch))
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        await asyncio.wait_for(opened, 15)
        client_channel = await asyncio.wait_for(remote, 15)

        stats = {"loss": loss, "packets": 0, "bytes": 0, "dropped": 0}
        dtls = server.sctp.transport
        dtls._send_data = _lossy(dtls._send_data, random.Random(f"rtc-loss:{seed}"), stats)

        sender, receiver = (EloquentSender(), EloquentReceiver()) if scheme == "eloquent" else \
            (MessageTokenSender(), MessageTokenReceiver())
        from netkit.emu.clock import Clock
        from netkit.emu.driver import MessageEndpointDriver

        clock = Clock()
        feeder = ScheduledSender(sender, schedule, start_us=0)
        s_drv = MessageEndpointDriver(feeder, channel.send, clock)
        c_drv = MessageEndpointDriver(receiver, client_channel.send, clock)
        channel.on("message", s_drv.receive)
        client_channel.on("message", c_drv.receive)
        s_drv.start()
        c_drv.start()
        deadline = loop.time() + schedule.duration_us / 1e6 + timeout_s
        while receiver.finished_at is None or len(receiver.log) < len(schedule):
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        s_drv.stop()
        c_drv.stop()
        render_us = receiver.log.times_by_index(len(schedule))
        metrics = token_metrics(feeder.gen_us, render_us, schedule.token_bytes, stats["bytes"], request_us=0)
        metrics.update(scheme=scheme, sctp_packets=stats["packets"], sctp_dropped=stats["dropped"],
                       events=list(receiver.log.events), text=b"".join(receiver.log.texts))
        metrics["bytes_overhead_note"] = "SCTP packet bytes the server handed to DTLS (incl. SACKs) / token bytes"
        return metrics
    finally:
        await server.close()
        await client.close()


def run_rtc_demo(schedule: TokenSchedule, loss: float = 0.1, seed: int = 0) -> dict[str, dict]:
    """Run both channels one after the other (same seeded loss) and return their metrics by scheme."""
    async def both() -> dict[str, dict]:
        return {s: await stream_over_datachannel(s, schedule, loss, seed) for s in RTC_SCHEMES}
    from netkit.emu.driver import run as run_precise

    return run_precise(both())

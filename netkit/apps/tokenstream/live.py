"""Live runs: the same sans-I/O endpoints over real UDP sockets, in two network namespaces joined by the
real-time trace link of `netkit.emu` (TUN devices and a link process stepping the very element chain the
simulator uses), and the `retransmit` baseline over the kernel's own TCP.

    server namespace [outer dev] <-> link process (delay, loss, trace) <-> [inner dev] client namespace

The downlink (server to client) carries the trace and the loss; the uplink carries
ACKs with delay only, as in the simulator. Loss seeds follow `PathConfig` and
`simulate` (2*seed+1 for the downlink), so with the same packet sequence the same
packets are lost in both modes. Needs root, /dev/net/tun and `netkit.emu`.
"""
from __future__ import annotations

import asyncio
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from netkit.apps.tokenstream.feeder import ScheduledSender
from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.path import PathConfig, get_trace
from netkit.apps.tokenstream.reliable import TokenDeframer
from netkit.apps.tokenstream.render import RenderLog
from netkit.apps.tokenstream.schemes import make_endpoints
from netkit.apps.tokenstream.simrun import simulate
from netkit.apps.tokenstream.tokens import TokenSchedule

LEAD_US = 100_000  # time between starting the drivers and the request reaching the server
DRAIN_S = 5.0  # wall time allowed after the last token for recovery


def emu_unavailable() -> str | None:
    """Why live runs cannot work here (no netkit.emu, not root, no TUN), or None if they can."""
    try:
        import netkit.emu.clock  # noqa: F401
        import netkit.emu.driver  # noqa: F401
        import netkit.emu.tunlink  # noqa: F401
        from netkit.emu.testing import skip_reason
    except ImportError as exc:
        return f"netkit.emu is not available: {exc}"
    return skip_reason()


def _trace_file(spec: str | None, folder: str) -> str | None:
    """A Mahimahi file for `spec` (constant:MBPS is written out; files are used in place)."""
    if spec is None or not spec.startswith("constant:"):
        return spec
    from netkit.trace import write_mahimahi

    path = Path(folder) / f"{spec.replace(':', '-')}.trace"
    write_mahimahi(get_trace(spec), path)
    return str(path)


class LivePath:
    """Two fresh namespaces joined by a `TunLink` built from a `PathConfig` (a context manager)."""

    def __init__(self, path: PathConfig, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.stats: dict | None = None

    def __enter__(self) -> "LivePath":
        from netkit.emu import netns
        from netkit.emu.linkspec import LinkSpec
        from netkit.emu.names import new_name
        from netkit.emu.resources import registry
        from netkit.emu.tunlink import TunLink

        self._tmp = tempfile.TemporaryDirectory(prefix="tokenstream-live-")
        p = self.path
        spec = LinkSpec.from_options(
            trace=_trace_file(p.trace, self._tmp.name), uplink=_trace_file(p.uplink, self._tmp.name),
            delay_ms=p.delay_ms, loss=p.loss, loss_model=p.loss_model, loss_burst=p.burst, queue=p.queue,
            seed=self.seed)
        self._reg = registry()
        self._tokens: list[int] = []
        try:
            self.server_ns, self.client_ns = new_name("ts"), new_name("tc")
            for ns in (self.server_ns, self.client_ns):
                netns.create(ns)
                self._tokens.append(self._reg.add(f"network namespace {ns}", lambda n=ns: netns.remove(n)))
                # IPv6 router/listener solicitations would cross the link and take draws of its loss
                # generator, shifting the loss pattern away from the simulator's
                for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
                    try:
                        netns.write_sysctl(ns, key, "1")
                    except OSError:
                        pass  # a kernel without IPv6 sends none
            self.link = TunLink(spec, inner_ns=self.client_ns, outer_ns=self.server_ns, reg=self._reg)
            self.link.start()
        except BaseException:
            self._close()
            raise
        return self

    @property
    def epoch_ns(self) -> int:
        """CLOCK_MONOTONIC ns at which the link's trace starts."""
        return self.link.epoch_ns

    def _close(self) -> None:
        link = getattr(self, "link", None)
        if link is not None:
            self.stats = link.close()
        for token in reversed(self._tokens):
            self._reg.release(token)
        self._tokens.clear()
        self._tmp.cleanup()

    def __exit__(self, *exc) -> None:
        self._close()


async def _udp_stream(lp: LivePath, scheme: str, schedule: TokenSchedule, copies: int) -> dict[str, Any]:
    from netkit.emu.clock import Clock
    from netkit.emu.driver import UdpEndpointDriver, udp_socket

    clock = Clock(lp.epoch_ns)
    s_sock = udp_socket(lp.server_ns, lp.link.outer_addr)
    c_sock = udp_socket(lp.client_ns, lp.link.inner_addr)
    sender, receiver = make_endpoints(scheme, copies)
    start = clock.now() + LEAD_US
    feeder = ScheduledSender(sender, schedule, start_us=start)
    s_drv = UdpEndpointDriver(feeder, s_sock, c_sock.getsockname(), clock)
    c_drv = UdpEndpointDriver(receiver, c_sock, s_sock.getsockname(), clock)
    try:
        c_drv.start()
        s_drv.start()
        end = start + schedule.duration_us
        while True:
            await asyncio.sleep(0.05)
            now = clock.now()
            complete = receiver.finished_at is not None and getattr(sender, "done", True)
            if (complete and now > end) or now > end + DRAIN_S * 1e6:
                break
    finally:
        s_drv.close()
        c_drv.close()
    render_us = receiver.log.times_by_index(len(schedule))
    m = token_metrics(feeder.gen_us, render_us, schedule.token_bytes, sender.bytes_sent, request_us=start)
    m.update(start_us=start, packets_sent=sender.packets_sent, events=list(receiver.log.events),
             text=b"".join(receiver.log.texts))
    return m


async def _tcp_stream(lp: LivePath, schedule: TokenSchedule) -> dict[str, Any]:
    """`retransmit` live: length-framed tokens over the kernel's TCP (Cubic, TCP_NODELAY), as chatbots stream."""
    from netkit.emu.clock import Clock
    from netkit.emu.driver import open_tcp_connection, start_tcp_server

    loop = asyncio.get_running_loop()
    clock = Clock(lp.epoch_ns)
    accepted: asyncio.Future = loop.create_future()
    handler_done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer)
        try:
            await reader.read()  # hold the connection until the client closes it
        except ConnectionError:
            pass
        finally:
            handler_done.set()

    server = await start_tcp_server(lp.server_ns, handler, host=lp.link.outer_addr)
    port = server.sockets[0].getsockname()[1]
    reader, c_writer = await open_tcp_connection(lp.client_ns, lp.link.outer_addr, port)
    s_writer: asyncio.StreamWriter = await asyncio.wait_for(accepted, 10)
    s_writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log = RenderLog()
    deframer = TokenDeframer(log)
    start = clock.now() + LEAD_US
    gen_us: list[int] = []

    async def serve() -> None:
        for off, tok in zip(schedule.offsets_us, schedule.tokens):
            delay = (start + off - clock.now()) / 1e6
            if delay > 0:
                await asyncio.sleep(delay)
            gen_us.append(clock.now())
            s_writer.write(bytes((len(tok),)) + tok)
        await s_writer.drain()

    async def client() -> None:
        while deframer.next_index < len(schedule):
            data = await reader.read(65536)
            if not data:
                break
            deframer.feed(data, clock.now())

    try:
        await asyncio.wait_for(asyncio.gather(serve(), client()), schedule.duration_us / 1e6 + LEAD_US / 1e6 + 30)
    finally:
        c_writer.close()
        try:
            await asyncio.wait_for(handler_done.wait(), 5)
        except asyncio.TimeoutError:
            pass
        s_writer.close()
        server.close()
        await server.wait_closed()
    render_us = log.times_by_index(len(schedule))
    # bytes_overhead is filled in from the link's downlink counters once the link has stopped
    m = token_metrics(gen_us, render_us, schedule.token_bytes, 0, request_us=start)
    m.update(start_us=start, events=list(log.events), text=b"".join(log.texts))
    return m


def live_stream(scheme: str, schedule: TokenSchedule, path: PathConfig, seed: int = 0, copies: int = 2,
                kernel_tcp: bool = True) -> dict[str, Any]:
    """Stream `schedule` with `scheme` over a live path; `retransmit` uses kernel TCP unless `kernel_tcp` is False."""
    path.validate()
    why = emu_unavailable()
    if why:
        raise OSError(f"cannot run live: {why}")
    with LivePath(path, seed) as lp:
        if scheme == "retransmit" and kernel_tcp:
            m = asyncio.run(_tcp_stream(lp, schedule))
        else:
            m = asyncio.run(_udp_stream(lp, scheme, schedule, copies))
    down = (lp.stats or {}).get("downlink", {})
    m["link_downlink"] = {k: down.get(k) for k in ("packets_in", "bytes_in", "dropped", "timing")}
    if scheme == "retransmit" and kernel_tcp:
        # every downlink packet is the server's (handshake included): IP bytes over token bytes
        m["bytes_overhead"] = (down.get("bytes_in") or 0) / schedule.token_bytes
    m["transport"] = "kernel TCP" if scheme == "retransmit" and kernel_tcp else "UDP"
    return m


def compare_live_sim(schemes: list[str], schedule: TokenSchedule, path: PathConfig, seed: int = 0,
                     copies: int = 2, kernel_tcp: bool = True) -> list[dict]:
    """Run each scheme live, then in the simulator from the same point of the trace; both sets of metrics."""
    rows = []
    for scheme in schemes:
        live = live_stream(scheme, schedule, path, seed, copies, kernel_tcp)
        sim = simulate(scheme, schedule, path, seed, copies, start_us=live["start_us"]).metrics
        rows.append({"scheme": scheme, "transport": live["transport"], "path": asdict(path), "seed": seed,
                     "live": {k: v for k, v in live.items() if k not in ("events", "text")}, "sim": sim})
    return rows


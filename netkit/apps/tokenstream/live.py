"""Live runs: the same sans-I/O endpoints over real UDP sockets, on the one live harness of `netkit.emu`
(namespaces joined by the real-time trace link, stepping the very element chains the simulator uses, on the
precise SCHED_FIFO driver), and the `retransmit` baseline over the kernel's own TCP in the same harness.

    server namespace [outer dev] <-> link process (delay, loss, trace) <-> [inner dev] client namespace

UDP runs are `tokenstream` experiments in mode `emu`; seeds are derived by
component name as in the simulator, so with the same packet sequence the same
packets are lost in both modes. Needs root, /dev/net/tun and `netkit.emu`.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any

from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.reliable import TokenDeframer
from netkit.apps.tokenstream.render import RenderLog
from netkit.apps.tokenstream.simrun import DEFAULT_DOWN, simulate, stream_experiment
from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit.net.direction import LinkDirection

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


async def _tcp_stream(net, schedule: TokenSchedule) -> dict[str, Any]:
    """`retransmit` live: length-framed tokens over the kernel's TCP (Cubic, TCP_NODELAY), as chatbots stream."""
    from netkit.emu.driver import open_tcp_connection, start_tcp_server

    loop = asyncio.get_running_loop()
    clock = net.clock
    server_ns, server_addr = net.address("server", "client")
    client_ns, _ = net.address("client", "server")
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

    server = await start_tcp_server(server_ns, handler, host=server_addr)
    port = server.sockets[0].getsockname()[1]
    reader, c_writer = await open_tcp_connection(client_ns, server_addr, port)
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


def live_stream(scheme: str, schedule: TokenSchedule, down: LinkDirection = DEFAULT_DOWN, seed: int = 0,
                copies: int = 2, kernel_tcp: bool = True) -> dict[str, Any]:
    """Stream `schedule` with `scheme` over a live path; `retransmit` uses kernel TCP unless `kernel_tcp` is False."""
    why = emu_unavailable()
    if why:
        raise OSError(f"cannot run live: {why}")
    if scheme == "retransmit" and kernel_tcp:
        from netkit.emu.driver import run as run_precise
        from netkit.emu.harness import LiveNetwork
        from netkit.experiment.spec import parse_experiment

        exp = parse_experiment(stream_experiment(scheme, schedule, down, seed, copies, 0, "emu"))
        with LiveNetwork(exp.topology, exp.seed) as net:
            m = run_precise(_tcp_stream(net, schedule), realtime=True)
        stats = net.stats.get("link") or {}
        down_stats = stats.get("downlink", {})
        # every downlink packet is the server's (handshake included): IP bytes over token bytes
        m["bytes_overhead"] = (down_stats.get("bytes_in") or 0) / schedule.token_bytes
        m["transport"] = "kernel TCP"
    else:
        run = simulate(scheme, schedule, down, seed, copies, start_us=0, mode="emu")
        m = dict(run.metrics)
        m.update(start_us=int(run.metrics.get("start_s", 0) * 1e6), events=list(run.receiver.log.events),
                 text=b"".join(run.receiver.log.texts), transport="UDP")
        down_stats = {}
    m["link_downlink"] = {k: down_stats.get(k) for k in ("packets_in", "bytes_in", "dropped", "timing")}
    return m


def compare_live_sim(schemes: list[str], schedule: TokenSchedule, down: LinkDirection = DEFAULT_DOWN, seed: int = 0,
                     copies: int = 2, kernel_tcp: bool = True) -> list[dict]:
    """Run each scheme live, then in the simulator from the same point of the trace; both sets of metrics."""
    rows = []
    for scheme in schemes:
        live = live_stream(scheme, schedule, down, seed, copies, kernel_tcp)
        sim = simulate(scheme, schedule, down, seed, copies, start_us=0).metrics
        rows.append({"scheme": scheme, "transport": live["transport"], "path": down.to_dict(), "seed": seed,
                     "live": {k: v for k, v in live.items() if k not in ("events", "text")}, "sim": sim})
    return rows

"""The KV streaming client and server over real kernel TCP, through the real-time trace link between namespaces.

Two fresh network namespaces hold the server (outside) and the client (inside),
joined by a :class:`netkit.emu.tunlink.TunLink` built from the same delay, trace
and queue as the simulator's path (downlink: server to client). The very same
sans-I/O :class:`~.streaming.KVStreamServer` and :class:`~.streaming.KVStreamClient`
run over asyncio TCP sockets opened in those namespaces, on the link's clock
(``netkit.emu.clock.Clock``). The server's controller takes the connection's
minimum RTT from ``TCP_INFO``. Both sockets set ``TCP_NODELAY`` so 5-byte
CHUNK_ACKs are not held back by Nagle's algorithm.

Needs root and ``/dev/net/tun`` (``netkit.emu.testing.skip_reason()`` says why not).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .controller import make_controller
from .profile import StreamProfile
from .streaming import KVStreamClient, KVStreamServer, SyntheticChunkSource, profile_processor
from .streamsim import PathSpec, RequestResult, request_result

__all__ = ["run_live", "tcp_min_rtt_us", "add_stream_live_arguments", "cmd_stream_live", "main"]

_READ = 1 << 20


def tcp_min_rtt_us(sock: socket.socket) -> int | None:
    """The kernel's minimum RTT of a TCP connection (``tcpi_min_rtt``, else ``tcpi_rtt``), µs."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    except OSError:
        return None
    if len(info) >= 152:
        rtt = struct.unpack_from("<I", info, 148)[0]  # tcpi_min_rtt
        if rtt:
            return rtt
    return struct.unpack_from("<I", info, 68)[0] if len(info) >= 72 else None  # tcpi_rtt


def _nodelay(writer: asyncio.StreamWriter) -> socket.socket | None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def _run(server: KVStreamServer, client: KVStreamClient, link, outside: str, inside: str, clock,
               timeout_s: float) -> None:
    from netkit.emu.driver import open_tcp_connection, start_tcp_server

    served = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = _nodelay(writer)
        try:
            while True:
                data = await reader.read(_READ)
                if not data:
                    break
                now = clock.now()
                rtt = tcp_min_rtt_us(sock) if sock is not None else None
                if rtt:
                    server.controller.set_rtt(rtt)
                server.receive_data(data, now)
                out = server.data_to_send(clock.now())
                if out:
                    writer.write(out)  # no drain: at most max_outstanding chunks are ever buffered
        finally:
            served.set()
            writer.close()

    srv = await start_tcp_server(outside, handle, link.outer_addr, 0)
    port = srv.sockets[0].getsockname()[1]
    reader, writer = await open_tcp_connection(inside, link.outer_addr, port)
    _nodelay(writer)
    deadline = time.monotonic() + timeout_s
    try:
        writer.write(client.data_to_send(clock.now()))
        while client.done_us is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                data = await asyncio.wait_for(reader.read(_READ), left)
            except asyncio.TimeoutError:
                break
            if not data:
                break
            client.receive_data(data, clock.now())
            out = client.data_to_send(clock.now())
            if out:
                writer.write(out)
    finally:
        writer.close()
        srv.close()
        try:
            await asyncio.wait_for(served.wait(), 5)
        except asyncio.TimeoutError:
            pass
        await srv.wait_closed()


def run_live(profile: StreamProfile, policy: str, path: PathSpec, target_s: float, offset_s: float = 0.0,
             timeout_s: float | None = None, controller_kwargs: dict | None = None,
             realtime: bool = True) -> tuple[RequestResult, KVStreamServer, KVStreamClient, dict | None]:
    """One request over a live link; returns the same record as the simulator, the endpoints and link stats.

    ``offset_s`` starts the request that far into the trace (the link's epoch is
    set that far in the past). Raises ``EmuError`` without root or TUN.
    """
    from netkit.emu import netns
    from netkit.emu.clock import Clock
    from netkit.emu.errors import require_root, require_tun
    from netkit.emu.linkspec import LinkSpec
    from netkit.emu.names import new_name
    from netkit.emu.resources import registry
    from netkit.emu.tunlink import TunLink

    require_root("kvstream live streaming")
    require_tun()
    if path.trace.startswith("constant:"):
        raise ValueError("live runs need a trace file (write synth.constant(...) with write_mahimahi)")
    spec = LinkSpec.from_options(trace=path.trace, uplink=path.uplink, delay_ms=path.delay_ms, queue=path.queue,
                                 command="kvstream streamlive")
    ctrl = make_controller(policy, profile, **(controller_kwargs or {}))
    server = KVStreamServer(SyntheticChunkSource(profile.n_chunks, profile.size), ctrl)
    target_us = int(target_s * 1e6)
    client = KVStreamClient(1, target_us, profile_processor(profile.process_us))
    reg = registry()
    outside, inside = new_name("ka"), new_name("kb")
    tokens, link, stats = [], None, None
    try:
        for name in (outside, inside):
            netns.create(name)
            tokens.append(reg.add(f"network namespace {name}", lambda n=name: netns.remove(n)))
        epoch = time.monotonic_ns() - int(offset_s * 1e9)
        link = TunLink(spec, inside, outside, realtime=realtime, reg=reg).start(epoch_ns=epoch)
        clock = Clock(link.epoch_ns)
        asyncio.run(_run(server, client, link, outside, inside, clock, timeout_s or 3 * target_s + 10))
    finally:
        stats = link.close() if link is not None else None
        for token in reversed(tokens):
            reg.release(token)
    start = client.request_us or 0
    return request_result(profile, policy, path, target_us, start, server, client, ctrl), server, client, stats


def add_stream_live_arguments(p: argparse.ArgumentParser) -> None:
    """Options of one live request (``python -m ...streamlive`` and ``netkit kvstream stream-live``)."""
    p.add_argument("--profile", required=True, help="profile JSON (stream-bench writes one into its --out)")
    p.add_argument("--trace", required=True, help="downlink trace file")
    p.add_argument("--uplink", help="uplink trace file (default: no rate limit)")
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--queue", default="droptail:packets=100")
    p.add_argument("--target-s", type=float, default=20.0)
    p.add_argument("--offset-s", type=float, default=0.0, help="start this far into the trace")
    p.add_argument("--policy", action="append", help="repeatable (default: kvstream)")
    p.add_argument("--compare-sim", action="store_true", help="also run the simulator on the same request")


def cmd_stream_live(args: argparse.Namespace) -> int:
    """Run each policy once over the live link; print TTFT and options (and the simulator's, if asked)."""
    from .streamsim import simulate_request

    profile = StreamProfile.load(args.profile)
    path = PathSpec(args.trace, args.uplink, args.delay_ms, args.queue)
    for policy in args.policy or ["kvstream"]:
        res, _, _, _ = run_live(profile, policy, path, args.target_s, args.offset_s)
        print(f"live {policy}: TTFT {res.ttft_s} s (target {args.target_s:g} s), options {res.options}")
        if args.compare_sim:
            sim, _, _ = simulate_request(profile, policy, path, args.target_s, int(res.offset_s * 1e6))
            print(f"sim  {policy}: TTFT {sim.ttft_s} s, options {sim.options}")
        print(json.dumps(asdict(res)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m netkit.apps.kvstream.streamlive --profile P.json --trace FILE [--policy kvstream] ...``."""
    p = argparse.ArgumentParser(prog="python -m netkit.apps.kvstream.streamlive", description=__doc__.splitlines()[0])
    add_stream_live_arguments(p)
    return cmd_stream_live(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Run `netkit replay` workloads (bulk, cubic, reno, prague, cbr:N) between any two namespaces over real UDP.

Each flow's sender and receiver are the simulator's sans-I/O endpoints, driven by
`UdpEndpointDriver`s on one asyncio loop; a `FlowMeter` fills the simulator's
`FlowRecord` for each. The namespaces can be netkit's own or Mininet hosts'
(`/proc/<pid>/ns/net`).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from netkit.emu.clock import Clock
from netkit.emu.driver import UdpEndpointDriver, udp_socket
from netkit.emu.meter import FlowMeter
from netkit.experiment.apps import parse_app
from netkit.sim.metrics import FlowRecord


@dataclass
class FlowSpec:
    """One flow: its workload (`--app` form), where its sender and receiver live, and the receiver's port."""

    app: str
    sender_ns: str | None
    sender_addr: str
    receiver_ns: str | None
    receiver_addr: str
    port: int
    sender_port: int = 0  # 0: any free port


@dataclass
class FlowRun:
    """A finished flow: its record and the UDP ports it used (sender, receiver)."""

    spec: FlowSpec
    record: FlowRecord
    sender_port: int
    drivers: tuple[UdpEndpointDriver, UdpEndpointDriver]


async def run_flows(flows: list[FlowSpec], duration_s: float, clock: Clock,
                    progress: Callable[[float], None] | None = None) -> list[FlowRun]:
    """Start every flow, run until `duration_s` on `clock`, stop; return one `FlowRun` per flow."""
    runs: list[FlowRun] = []
    try:
        for i, f in enumerate(flows):
            app = parse_app(f.app)
            record = FlowRecord(i + 1, app.label)
            meter = FlowMeter(record)
            rsock = udp_socket(f.receiver_ns, f.receiver_addr, f.port)
            try:
                ssock = udp_socket(f.sender_ns, f.sender_addr, f.sender_port)
            except BaseException:
                rsock.close()
                raise
            sport = ssock.getsockname()[1]
            receiver = UdpEndpointDriver(app.make_receiver(), rsock, (f.sender_addr, sport), clock,
                                         on_receive=meter.on_receive)
            sender = UdpEndpointDriver(app.make_sender(), ssock, (f.receiver_addr, f.port), clock,
                                       on_send=meter.on_send)
            runs.append(FlowRun(f, record, sport, (sender, receiver)))
        for run in runs:
            run.drivers[1].start()
            run.drivers[0].start()
        end_us = int(duration_s * 1e6)
        while (now := clock.now()) < end_us:
            if progress:
                progress(now / 1e6)
            await asyncio.sleep(min(0.5, (end_us - now) / 1e6))
        if progress:
            progress(duration_s)
    finally:
        for run in runs:
            for d in run.drivers:
                d.close()
    return runs

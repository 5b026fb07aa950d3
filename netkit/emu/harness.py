"""The one live harness: a topology's hosts as network namespaces joined by real-time TUN links, and its flows'
sans-I/O endpoints over real UDP sockets on the precise driver (`netkit.emu.driver`).

    path / dumbbell:  [outer ns: server or senders] <-> link process (down, up) <-> [inner ns: clients]
    star:             [hI ns] <-> link process (hI.down, hI.up) <-> [center ns, forwarding]   for each host I

Every link is built from the same `netkit.net.LinkPlan` the simulator builds
its pipes from (same elements, order, seeds and log files), and all links share
one clock epoch, fixed once every link is up (so set-up time never eats into a
run): a time on one is a time on all. IPv6 is switched off in
every namespace: router and listener solicitations would cross the links and
take draws of their loss generators, shifting the loss pattern away from the
simulator's. Everything created is registered for cleanup (exit, exception,
signal, or `netkit clean` after a SIGKILL).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from netkit import interrupts
from netkit.emu import netns
from netkit.emu.clock import Clock
from netkit.emu.driver import UdpEndpointDriver, udp_socket
from netkit.emu.errors import EmuError, require_root, require_tun
from netkit.emu.meter import FlowMeter
from netkit.emu.names import new_name
from netkit.emu.resources import registry
from netkit.emu.tunlink import TunLink
from netkit.net.topology import Topology
from netkit.sim.metrics import FlowRecord
from netkit.transport.base import Endpoint

IPV6_OFF = ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6")


@dataclass
class LiveFlow:
    """One flow to run live: endpoints, the hosts they sit on, a label and a start time on the links' clock."""

    server: Endpoint
    client: Endpoint
    server_host: str
    client_host: str
    label: str
    start_us: int = 0


class LiveNetwork:
    """Namespaces and links of `topology` (a context manager); `address(host, peer)` says where a host listens."""

    def __init__(self, topology: Topology, seed: int, log_dir: str | None = None, command: str = "netkit",
                 realtime: bool = True, first_us: int = 0, lead_us: int = 200_000,
                 queue_window_us: tuple[int, int] | None = None, hold_clock: bool = False) -> None:
        self.topology = topology
        self.hold_clock = hold_clock   # True: the owner calls start_clock() once its own set-up is done
        self.seed = seed
        self.log_dir = log_dir
        self.command = command
        self.realtime = realtime
        self.first_us = first_us
        self.lead_us = lead_us
        self.epoch_ns: int | None = None
        self.queue_window_us = queue_window_us
        self.links: dict[str, TunLink] = {}
        self.namespaces: dict[str, str] = {}  # side -> namespace name
        self.stats: dict[str, dict | None] = {}
        self._reg = registry()
        self._tokens: list[int] = []

    # -- setup and teardown -----------------------------------------------------------------------
    def _namespace(self, side: str, tag: str) -> str:
        name = new_name(tag)
        with interrupts.deferred():  # created and registered together
            netns.create(name)
            self._tokens.append(self._reg.add(f"network namespace {name}", lambda n=name: netns.remove(n)))
        for key in IPV6_OFF:
            try:
                netns.write_sysctl(name, key, "1")
            except OSError:
                pass  # a kernel without IPv6 sends none
        self.namespaces[side] = name
        return name

    def __enter__(self) -> "LiveNetwork":
        require_root("live emulation")
        require_tun()
        try:
            plans = self.topology.link_plans(self.seed, self.log_dir, self.command)
            if self.topology.kind == "star":
                center = self._namespace("center", "c")
                netns.write_sysctl(center, "net.ipv4.ip_forward", "1")
                for plan in plans:
                    inner = self._namespace(plan.name, "h")
                    self._start_link(plan.name, TunLink(plan, inner, center, realtime=self.realtime, reg=self._reg,
                                                        queue_window_us=self.queue_window_us))
            else:
                outer, inner = self._namespace("outer", "a"), self._namespace("inner", "b")
                self._start_link("link", TunLink(plans[0], inner, outer, realtime=self.realtime, reg=self._reg,
                                                 queue_window_us=self.queue_window_us))
            if not self.hold_clock:
                self.start_clock()
        except BaseException:
            self.close()
            raise
        return self

    def start_clock(self) -> None:
        """Fix the one clock of every link (they forward from then on), so that time `first_us` (the first
        flow's start, the same point of the traces as in the simulator) comes `lead_us` from now."""
        self.epoch_ns = time.monotonic_ns() + (self.lead_us - self.first_us) * 1000
        for link in self.links.values():
            link.set_epoch(self.epoch_ns)

    def _start_link(self, name: str, link: TunLink) -> None:
        # known before it starts: if the start is interrupted, close() still stops its process before the caller
        # removes the folder its logs go to (a link process still starting would create them afterwards)
        self.links[name] = link
        link.start(defer_epoch=True)

    def close(self) -> None:
        """Stop every link (keeping its statistics) and remove the namespaces; never cut short by a signal."""
        with interrupts.deferred():
            for name, link in self.links.items():
                if name not in self.stats:
                    self.stats[name] = link.close()
            for token in reversed(self._tokens):
                self._reg.release(token)
            self._tokens.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is None:
            self.check_links()  # a link that died during the run fails it, even when the flows ended first

    def check_links(self) -> None:
        """Raise EmuError naming the link and its error if a link process ended by itself (the run failed)."""
        for name, link in self.links.items():
            proc = link.process
            if proc is None:
                continue
            if proc.failure is None and proc.proc is not None and not proc.alive() and name not in self.stats:
                proc.stop()  # collect what it reported
            if proc.failure:
                raise EmuError(f"link {name}: the link process stopped during the run ({proc.failure})")

    # -- where things are -------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The links' shared clock (µs since the epoch, when every trace starts)."""
        return Clock(self.epoch_ns)

    def address(self, host: str, peer: str) -> tuple[str, str]:
        """(namespace, IPv4 address) where `host` talks to `peer`."""
        if self.topology.kind != "star":
            link = self.links["link"]
            side = self.topology.side(host)
            return (self.namespaces[side], link.outer_addr if side == "outer" else link.inner_addr)
        if host == "center":
            return self.namespaces["center"], self.links[peer].outer_addr
        return self.namespaces[host], self.links[host].inner_addr

    def link_direction(self, component: str) -> tuple[str, str]:
        """(link name, `downlink` or `uplink`) of a direction component."""
        if self.topology.kind != "star":
            return "link", "downlink" if component == "down" else "uplink"
        host, _, d = component.partition(".")
        return host, "downlink" if d == "down" else "uplink"

    def queue_summaries(self) -> dict[str, dict]:
        """Per-queue (L/C) summaries the link processes reported, by component (after `close`)."""
        out = {}
        for comp in self.topology.components():
            name, d = self.link_direction(comp)
            q = ((self.stats.get(name) or {}).get(d) or {}).get("queues")
            if q:
                out[comp] = q
        return out


class HostMap:
    """Hosts that live elsewhere (Mininet nodes, say), for `run_flows`: host name -> (namespace, address)."""

    def __init__(self, hosts: dict[str, tuple[str | None, str]], epoch_ns: int | None = None) -> None:
        self.hosts = hosts
        self.clock = Clock(epoch_ns)

    def address(self, host: str, peer: str) -> tuple[str | None, str]:
        """(namespace, address) of `host`."""
        return self.hosts[host]


@dataclass
class FlowRun:
    """A finished live flow: its record, the UDP ports, and the drivers (for their counters)."""

    flow: LiveFlow
    record: FlowRecord
    server_addr: tuple[str, int]
    client_addr: tuple[str, int]
    drivers: tuple[UdpEndpointDriver, UdpEndpointDriver]


async def run_flows(net: "LiveNetwork | HostMap", flows: list[LiveFlow], until_us: int, stop: asyncio.Event | None = None,
                    progress: Callable[[float], None] | None = None) -> list[FlowRun]:
    """Run every flow's endpoints over UDP until `until_us` on the links' clock, or until `stop` is set.

    `net` is a `LiveNetwork`, or a `HostMap` of hosts made by someone else (Mininet).
    """
    clock = net.clock
    loop = asyncio.get_running_loop()
    runs: list[FlowRun] = []
    handles = []
    try:
        for i, f in enumerate(flows):
            record = FlowRecord(i + 1, f.label)
            meter = FlowMeter(record)
            s_ns, s_addr = net.address(f.server_host, f.client_host)
            c_ns, c_addr = net.address(f.client_host, f.server_host)
            ssock = udp_socket(s_ns, s_addr)
            try:
                csock = udp_socket(c_ns, c_addr)
            except BaseException:
                ssock.close()
                raise
            s_name, c_name = ssock.getsockname(), csock.getsockname()
            server = UdpEndpointDriver(f.server, ssock, c_name, clock, on_send=meter.on_send)
            client = UdpEndpointDriver(f.client, csock, s_name, clock, on_receive=meter.on_receive)
            runs.append(FlowRun(f, record, s_name, c_name, (server, client)))
        for run in runs:
            def start(run=run) -> None:
                run.drivers[1].start()
                run.drivers[0].start()

            at = run.flow.start_us
            if at <= clock.now():
                start()
            else:
                handles.append(loop.call_at(clock.to_loop_time(at), start))
        stop = stop or asyncio.Event()
        check_links = getattr(net, "check_links", None)
        while (now := clock.now()) < until_us and not stop.is_set():
            interrupts.check()
            if check_links:
                check_links()
            if progress:
                progress(now / 1e6)
            try:
                await asyncio.wait_for(stop.wait(), min(0.5, (until_us - now) / 1e6))
            except asyncio.TimeoutError:
                pass
        if progress:
            progress(min(clock.now(), until_us) / 1e6)
    finally:
        for h in handles:
            h.cancel()
        for run in runs:
            for d in run.drivers:
                d.close()
    return runs


def attribute_drops(net: LiveNetwork, runs: list[FlowRun]) -> None:
    """Fill each record's network drops from the link processes' per-flow counters along its data route."""
    for run in runs:
        key = f"udp {run.server_addr[0]}:{run.server_addr[1]}>{run.client_addr[0]}:{run.client_addr[1]}"
        total = 0
        for comp in net.topology.route(run.flow.server_host, run.flow.client_host):
            name, d = net.link_direction(comp)
            total += (((net.stats.get(name) or {}).get(d) or {}).get("drops_by_flow") or {}).get(key, 0)
        run.record.dropped_packets = total

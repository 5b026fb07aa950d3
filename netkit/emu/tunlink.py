"""`TunLink`: a live link between two namespaces, as two TUN devices and a link process (like mm-link).

    outer namespace                                   inner namespace
    [outer dev 100.64.x.1/30] <-> link process <-> [inner dev 100.64.x.2/30, default route]

The downlink chain carries packets from the outer device to the inner one, the
uplink chain the other way. The inner namespace forwards IPv4, so another link
can hang below it (nested shells); the subnet is also routed in the namespaces
of every enclosing link listed in `route_chain`, so the innermost namespace can
reach the outermost one.
"""
from __future__ import annotations

import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netkit import interrupts
from netkit.emu import addressing, kstats, netns, tun
from netkit.emu.errors import EmuError
from netkit.net.direction import LinkPlan
from netkit.emu.names import new_name
from netkit.emu.process import LinkProcess
from netkit.emu.resources import Registry, registry

TXQUEUELEN = 10000
MTU = 1500
ROUTES_ENV = "NETKIT_ROUTES"


def configure_device(ns: str | None, dev: str, address: str | None = None, prefixlen: int = 30,
                     default_route: bool = False) -> None:
    """Bring `dev` up in namespace `ns` with a 1500-byte MTU, a long queue, an address and maybe a default route."""
    with netns.enter(ns), IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=dev)[0]
        ipr.link("set", index=idx, mtu=MTU, txqlen=TXQUEUELEN, state="up")
        if address:
            ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
        if default_route:
            ipr.route("add", dst="0.0.0.0/0", oif=idx)


def parse_route_chain(text: str | None) -> list[tuple[int, str]]:
    """`pid:dev,pid:dev` (outermost first) as a list of (pid, device)."""
    out = []
    for part in filter(None, (text or "").split(",")):
        pid, _, dev = part.partition(":")
        if pid.isdigit() and dev:
            out.append((int(pid), dev))
    return out


class TunLink:
    """Two TUN devices in `outer_ns` (None: this process's namespace) and `inner_ns`, joined by a link process."""

    def __init__(self, spec: LinkPlan, inner_ns: str, outer_ns: str | None = None, realtime: bool = True,
                 route_chain: list[tuple[int, str]] | None = None, reg: Registry | None = None,
                 queue_window_us: tuple[int, int] | None = None) -> None:
        self.spec = spec
        self.inner_ns = inner_ns
        self.outer_ns = outer_ns
        self.realtime = realtime
        self.route_chain = list(route_chain or [])
        self.queue_window_us = queue_window_us
        self.reg = reg or registry()
        self.subnet: addressing.Subnet | None = None
        self.outer_dev = new_name("o")
        self.inner_dev = new_name("i")
        self.process: LinkProcess | None = None
        self._tokens: list[int] = []
        self._udp_before: tuple[dict, dict | None] = ({}, None)

    @property
    def outer_addr(self) -> str:
        """Address of the outside end (what the inner side calls NETKIT_PEER)."""
        return self.subnet.outer

    @property
    def inner_addr(self) -> str:
        """Address inside the inner namespace."""
        return self.subnet.inner

    @property
    def epoch_ns(self) -> int:
        """CLOCK_MONOTONIC time (ns) that the link's logs and trace count from."""
        return self.process.ready["epoch_ns"]

    def child_route_chain(self) -> str:
        """The route chain a link nested inside the inner namespace must extend (`NETKIT_ROUTES`)."""
        return ",".join(f"{pid}:{dev}" for pid, dev in self.route_chain + [(os.getpid(), self.outer_dev)])

    def start(self, epoch_ns: int | None = None, defer_epoch: bool = False) -> "TunLink":
        """Create and address both devices, route the subnet outwards, and start forwarding.

        With `defer_epoch` the link waits for `set_epoch()` before it forwards (several links, one clock).
        """
        with interrupts.deferred():  # a lease, fd or process is registered as soon as it exists
            self.subnet = addressing.lease()
            self._tokens.append(self.reg.add(f"address lease {self.subnet.network}",
                                             lambda s=self.subnet: addressing.release(s)))
        fds: list[int] = []
        try:
            with interrupts.deferred():
                with netns.enter(self.outer_ns):
                    fds.append(tun.open_device(self.outer_dev))
                with netns.enter(self.inner_ns):
                    fds.append(tun.open_device(self.inner_dev))
            # pyroute2 runs an asyncio loop inside each call: a signal raised in there leaves it half shut down
            with interrupts.deferred():
                configure_device(self.outer_ns, self.outer_dev, self.subnet.outer)
                configure_device(self.inner_ns, self.inner_dev, self.subnet.inner, default_route=True)
                netns.write_sysctl(self.inner_ns, "net.ipv4.ip_forward", "1")
                self._route_outwards()
                self._udp_before = self._udp_counters()
        except BaseException:
            with interrupts.deferred():
                for fd in fds:
                    os.close(fd)
            raise
        with interrupts.deferred():
            self.process = LinkProcess(self.spec, fds[0], fds[1], realtime=self.realtime, epoch_ns=epoch_ns,
                                       queue_window_us=self.queue_window_us, defer_epoch=defer_epoch)
            self._tokens.append(self.reg.add(f"link process ({self.outer_dev} <-> {self.inner_dev})", self.stop))
        self.process.start()  # it owns the fds from here on, even if it fails
        return self

    def _udp_counters(self) -> tuple[dict, dict | None]:
        """UDP error counters of the inner namespace and (when it is a namespace of its own) the outer one."""
        return kstats.udp_counters(self.inner_ns), kstats.udp_counters(self.outer_ns) if self.outer_ns else None

    def kernel_counters(self) -> dict[str, dict] | None:
        """The kernel's drops per direction so far (`netkit.emu.kstats.kernel_drops`); None if unreadable."""
        try:
            inner_udp, outer_udp = self._udp_counters()
            before_in, before_out = self._udp_before
            return kstats.kernel_drops(kstats.device_counters(self.outer_ns, self.outer_dev),
                                       kstats.device_counters(self.inner_ns, self.inner_dev),
                                       kstats.delta(inner_udp, before_in),
                                       kstats.delta(outer_udp, before_out) if outer_udp is not None else None)
        except (OSError, EmuError, NetlinkError, AttributeError, TypeError):
            return None

    def _route_outwards(self) -> None:
        for pid, dev in self.route_chain:
            path = f"/proc/{pid}/ns/net"
            try:
                with netns.enter(path), IPRoute() as ipr:
                    idx = ipr.link_lookup(ifname=dev)
                    if not idx:
                        continue
                    ipr.route("add", dst=self.subnet.network, oif=idx[0])
            except (EmuError, NetlinkError, OSError):
                continue  # that enclosing run is gone: nothing to route through
            self._tokens.append(self.reg.add(f"route {self.subnet.network} via {dev} in {path}",
                                             lambda p=path, d=dev: self._unroute(p, d)))

    def _unroute(self, path: str, dev: str) -> None:
        try:
            with netns.enter(path), IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=dev)
                if idx:
                    ipr.route("del", dst=self.subnet.network, oif=idx[0])
        except (EmuError, NetlinkError, OSError):
            pass  # the enclosing run (and its device) is already gone

    def set_epoch(self, epoch_ns: int) -> None:
        """Fix the clock of a link started with `defer_epoch`."""
        self.process.set_epoch(epoch_ns)

    def stop(self) -> dict | None:
        """Stop forwarding (the devices vanish with the process); return the link's statistics.

        Each direction also gets `kernel` (the kernel's drops on both TUN ends, read just before the devices
        go) and `kernel_dropped`, their sum; `dropped` stays the link's own.
        """
        if self.process is None:
            return None
        kernel = self.kernel_counters() if self.process.alive() else None
        stats = self.process.stop()
        if stats is not None and kernel is not None:  # (once: after the first stop the process is gone)
            for name, counters in kernel.items():
                if isinstance(stats.get(name), dict):
                    stats[name]["kernel"] = counters
                    stats[name]["kernel_dropped"] = sum(counters.values())
        return stats

    def close(self) -> dict | None:
        """Stop and release everything this link registered (routes, lease); never cut short by a signal."""
        with interrupts.deferred():
            stats = self.stop()
            for token in reversed(self._tokens):
                self.reg.release(token)
            self._tokens.clear()
        return stats

    def __enter__(self) -> "TunLink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


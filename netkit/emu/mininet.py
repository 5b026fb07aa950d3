"""`TraceLink` for Mininet: `net.addLink(a, b, cls=TraceLink, trace=..., delay=..., loss=..., queue=...)`.

How it is wired: instead of a veth pair, each end is a TAP device created
directly in its node's namespace (`/proc/<node.pid>/ns/net`) under the name
Mininet chose (`h1-eth0`, `s1-eth2`, ...). A netkit link process holds both TAP
file descriptors and forwards Ethernet frames between them through the same
element chains as `netkit shell`: IPv4/IPv6 frames are shaped (sized by their IP
length, as mm-link counts them), ARP and other frames cross at once. TAP devices
are ordinary Ethernet interfaces, so they join LinuxBridge switches, take
addresses and MACs from Mininet, and vanish when the link process ends.

Directions: `trace` (the downlink) shapes frames from node1 to node2; `uplink`
shapes node2 to node1. Without `uplink` that direction has only the delay.
Needs `Mininet(switch=LinuxBridge, controller=None)` or any switch that takes
plain interfaces; no netem, no Open vSwitch.
"""
from __future__ import annotations

import os

from netkit.emu import netns, tun
from netkit.emu.errors import require_mininet, require_root
from netkit.net.direction import LinkDirection, LinkPlan
from netkit.emu.process import LinkProcess
from netkit.emu.resources import registry
from netkit.emu.tunlink import configure_device

require_mininet()
from mininet.link import Link  # noqa: E402


def node_netns(node) -> str:
    """The namespace file of a Mininet node (its shell's `/proc/PID/ns/net`)."""
    return f"/proc/{node.pid}/ns/net"


class TraceLink(Link):
    """A Mininet link through a live trace-driven netkit link (see the module docstring)."""

    def __init__(self, node1, node2, port1=None, port2=None, intfName1=None, intfName2=None, addr1=None,
                 addr2=None, trace: str | None = None, uplink: str | None = None, delay: float = 0.0,
                 loss: float = 0.0, uplink_loss: float = 0.0, queue: str | None = None,
                 uplink_queue: str | None = None, loss_model: str = "bernoulli", loss_burst: float = 3.0,
                 seed: int = 0, log_dir: str | None = None, realtime: bool = True, **params) -> None:
        require_root("netkit TraceLink")
        down = LinkDirection(trace, float(delay), loss, loss_model, loss_burst, queue)
        up = LinkDirection(uplink, float(delay), uplink_loss, loss_model, loss_burst, uplink_queue)
        down.validate("downlink")
        up.validate("uplink")
        self.spec = LinkPlan.single(down, up, seed=seed, log_dir=log_dir,
                                    command=f"mininet TraceLink {node1.name}<->{node2.name}")
        self.realtime = realtime
        self.process: LinkProcess | None = None
        self._token: int | None = None
        params.pop("fast", None)  # the TAP devices are made in place; Mininet's slow path would move veths
        params.pop("cls1", None)
        params.pop("cls2", None)
        super().__init__(node1, node2, port1=port1, port2=port2, intfName1=intfName1, intfName2=intfName2,
                         addr1=addr1, addr2=addr2, fast=True, **params)

    def makeIntfPair(self, intfname1, intfname2, addr1=None, addr2=None, node1=None, node2=None,
                     deleteIntfs=True):
        """Create a TAP device at each end and start the link process between them."""
        ns1, ns2 = node_netns(node1), node_netns(node2)
        with netns.enter(ns1):
            fd1 = tun.open_device(intfname1, tap=True)
        try:
            with netns.enter(ns2):
                fd2 = tun.open_device(intfname2, tap=True)
        except BaseException:
            os.close(fd1)
            raise
        try:
            configure_device(ns1, intfname1)
            configure_device(ns2, intfname2)
        except BaseException:
            os.close(fd1)
            os.close(fd2)
            raise
        self.process = LinkProcess(self.spec, fd1, fd2, tap=True, realtime=self.realtime)
        self._token = registry().add(f"Mininet TraceLink {intfname1}<->{intfname2}", self._stop_process)
        self.process.start()

    def _stop_process(self) -> dict | None:
        return self.process.stop() if self.process is not None else None

    @property
    def stats(self) -> dict | None:
        """The link process's counters and timing errors, after `stop()`."""
        return self.process.stats if self.process is not None else None

    def stop(self) -> None:
        """Stop the link process (its TAP devices go with it), then let Mininet forget the interfaces."""
        self._stop_process()
        if self._token is not None:
            registry().release(self._token)
            self._token = None
        super().stop()

    def delete(self) -> None:
        """Mininet's delete: the devices are already gone once the process stops."""
        self._stop_process()
        super().delete()

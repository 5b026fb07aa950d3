"""A P4 switch inside netkit's simulator: the software target's pipeline as a node between Pipes.

Simulated packets carry their IPv4 bytes in `Packet.raw`; the node wraps them in an Ethernet header
(the pipeline parses Ethernet frames), runs the sans-I/O pipeline, and sends every copy that leaves
a port into the Pipe attached to that port, as a new Packet of that port's flow. Packets for the CPU
port go to the `packet_in` callback (the control plane in the same simulation), and `packet_out`
injects the controller's frames. Processing takes `latency_us` of virtual time (default 0).
"""
from __future__ import annotations

from typing import Callable

from netkit.link.packet import Packet
from netkit.p4.software.device import SoftwareSwitch
from netkit.sim.engine import Simulator
from netkit.sim.pipe import Pipe

ETHERNET_IPV4 = bytes(12) + b"\x08\x00"


class SimSwitch:
    """Ports of a SoftwareSwitch wired to simulator Pipes."""

    def __init__(self, sim: Simulator, switch: SoftwareSwitch, latency_us: int = 0,
                 packet_in: Callable[[bytes, int], None] | None = None):
        self.sim = sim
        self.switch = switch
        self.latency_us = latency_us
        self.packet_in = packet_in
        self.egress: dict[int, tuple[Pipe, int]] = {}
        self.forwarded = 0

    def attach(self, port: int, pipe: Pipe, flow: int) -> None:
        """Copies leaving `port` enter `pipe` as packets of `flow`."""
        self.egress[port] = (pipe, flow)

    def ingress(self, port: int) -> Callable[[Packet, int], None]:
        """A Pipe sink that delivers packets into switch port `port` (`pipe.connect(flow, sw.ingress(1))`)."""
        def sink(pkt: Packet, t: int) -> None:
            if pkt.raw is None:
                return   # no IP bytes: nothing the pipeline could parse
            if self.latency_us:
                self.sim.at(t + self.latency_us, self._process, port, ETHERNET_IPV4 + pkt.raw, pkt.sent)
            else:
                self._process(port, ETHERNET_IPV4 + pkt.raw, pkt.sent)
        return sink

    def packet_out(self, frame: bytes, egress_port: int) -> None:
        """The controller sends an Ethernet frame out of `egress_port` (the packet_out header is added here)."""
        self._process(self.switch.cpu_port, egress_port.to_bytes(2, "big") + frame, self.sim.now)

    def _process(self, port: int, frame: bytes, sent: int) -> None:
        for eport, out in self.switch.process(port, frame):
            if eport == self.switch.cpu_port:
                if self.packet_in is not None:
                    self.packet_in(out, self.sim.now)
                continue
            target = self.egress.get(eport)
            if target is None:
                continue
            pipe, flow = target
            ip = out[14:]
            copy = Packet(size=len(ip), flow=flow, sent=sent, raw=ip)
            self.forwarded += 1
            pipe.send(copy)

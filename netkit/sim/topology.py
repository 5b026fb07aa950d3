"""Topologies for the simulator: a two-host path, and a dumbbell of N pairs sharing one bottleneck."""
from __future__ import annotations

from dataclasses import dataclass

from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.element import LinkElement
from netkit.sim.engine import Simulator
from netkit.sim.host import Host
from netkit.sim.metrics import FlowRecord
from netkit.sim.pipe import Pipe
from netkit.transport.base import Endpoint
from netkit.transport.stream import use_frames


@dataclass
class Flow:
    """One sender/receiver pair, its hosts and its record."""

    id: int
    app: str
    sender: Host
    receiver: Host
    record: FlowRecord


class Network:
    """Senders on one side of a shared forward path (data) and reverse path (feedback), receivers on the other.

    Each flow may add its own access delay on the sender side, in both directions,
    so flows with different RTTs can share the bottleneck.
    """

    def __init__(self, sim: Simulator, forward: LinkElement, reverse: LinkElement | None = None) -> None:
        self.sim = sim
        self.forward = Pipe(sim, forward, "forward")
        self.reverse = Pipe(sim, reverse if reverse is not None else Chain([]), "reverse")
        self.flows: list[Flow] = []

    def add_flow(self, sender: Endpoint, receiver: Endpoint, app: str = "flow", start_us: int = 0,
                 access_delay_us: int = 0) -> Flow:
        """Connect a sender endpoint to a receiver endpoint across the shared paths."""
        fid = len(self.flows) + 1
        sim = self.sim
        if access_delay_us:
            up = Pipe(sim, Delay(access_delay_us), f"access-up-{fid}")
            down = Pipe(sim, Delay(access_delay_us), f"access-down-{fid}")
            up.connect(fid, lambda pkt, t: self.forward.send(pkt))
            sender_out, reverse_to = up, down
        else:
            sender_out, reverse_to = self.forward, None
        s_host = Host(sim, sender, sender_out, fid, f"sender-{fid}")
        r_host = Host(sim, receiver, self.reverse, fid, f"receiver-{fid}")
        use_frames(sender, receiver)  # a plain stream pair: frame objects instead of encoded bytes
        record = FlowRecord(fid, app)
        s_host.send_record = record
        r_host.receive_record = record
        self.forward.connect_host(fid, r_host)
        self.forward.on_flow_drop(fid, record.on_drop)
        if access_delay_us:
            sender_out.on_flow_drop(fid, record.on_drop)
        if reverse_to is not None:
            self.reverse.connect(fid, lambda pkt, t: reverse_to.send(pkt))
            reverse_to.connect_host(fid, s_host)
        else:
            self.reverse.connect_host(fid, s_host)
        s_host.start(start_us)
        r_host.start(start_us)
        flow = Flow(fid, app, s_host, r_host, record)
        self.flows.append(flow)
        return flow


def two_host_path(sim: Simulator, forward: LinkElement, reverse: LinkElement | None,
                  sender: Endpoint, receiver: Endpoint, app: str = "flow") -> tuple[Network, Flow]:
    """A single sender and receiver joined by a forward and a reverse path."""
    net = Network(sim, forward, reverse)
    return net, net.add_flow(sender, receiver, app)


def dumbbell(sim: Simulator, forward: LinkElement, reverse: LinkElement | None,
             pairs: list[tuple[Endpoint, Endpoint, str]], access_delays_us: list[int] | None = None) -> Network:
    """N sender/receiver pairs whose traffic shares one bottleneck in each direction."""
    net = Network(sim, forward, reverse)
    for i, (snd, rcv, app) in enumerate(pairs):
        delay = access_delays_us[i] if access_delays_us else 0
        net.add_flow(snd, rcv, app, access_delay_us=delay)
    return net

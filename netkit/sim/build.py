"""The simulator's network built from a `netkit.net.Topology`: one Pipe per direction, flows routed over them.

Every direction component (`down`, `up`, `h2.up`, ...) becomes a `Pipe` driving
the chain its `DirectionPlan` builds, so the elements, their order and their
seeds are those of the live link process. A flow between two hosts crosses the
pipes of `Topology.route`, data one way and feedback the other.
"""
from __future__ import annotations

from netkit.link.log import LinkLog, aborted_on_failure
from netkit.link.monitor import QueueMonitor
from netkit.link.tracelink import TraceLink
from netkit.net.direction import DirectionPlan
from netkit.net.topology import Topology
from netkit.sim.engine import Simulator
from netkit.sim.host import Host
from netkit.sim.metrics import FlowRecord
from netkit.sim.pipe import Pipe
from netkit.sim.topology import Flow
from netkit.transport.base import Endpoint
from netkit.transport.stream import use_frames


class SimNetwork:
    """A topology's pipes in one simulator, with per-flow records, link logs and DualPI2 queue monitors."""

    def __init__(self, sim: Simulator, topology: Topology, seed: int, log_dir: str | None = None,
                 command: str = "netkit") -> None:
        self.sim = sim
        self.topology = topology
        self.pipes: dict[str, Pipe] = {}
        self.plans: dict[str, DirectionPlan] = {}
        self.logs: list[LinkLog] = []
        self.monitors: dict[str, QueueMonitor] = {}
        self.flows: list[Flow] = []
        with aborted_on_failure(self.logs):
            for plan in topology.link_plans(seed, log_dir, command):
                for d in (plan.down, plan.up):
                    chain, logs = d.build()
                    self.logs += logs
                    self.plans[d.name] = d
                    self.pipes[d.name] = Pipe(sim, chain, d.name)
                    monitor = QueueMonitor.attach(chain)
                    if monitor is not None:
                        self.monitors[d.name] = monitor

    def trace_link(self, component: str) -> TraceLink | None:
        """The TraceLink of a component's chain (None without a trace)."""
        for el in getattr(self.pipes[component].element, "elements", []):
            if isinstance(el, TraceLink):
                return el
        return None

    def add_flow(self, sender: Endpoint, receiver: Endpoint, src: str, dst: str, app: str = "flow",
                 start_us: int = 0) -> Flow:
        """Connect `sender` on host `src` to `receiver` on host `dst`: data over route(src, dst), feedback back."""
        fid = len(self.flows) + 1
        fwd = [self.pipes[c] for c in self.topology.route(src, dst)]
        rev = [self.pipes[c] for c in self.topology.route(dst, src)]
        s_host = Host(self.sim, sender, fwd[0], fid, f"{src}/{app}")
        r_host = Host(self.sim, receiver, rev[0], fid, f"{dst}/{app}")
        use_frames(sender, receiver)  # a plain stream pair: frame objects instead of encoded bytes
        record = FlowRecord(fid, app)
        s_host.send_record = record
        r_host.receive_record = record
        _connect(fwd, fid, r_host)
        _connect(rev, fid, s_host)
        for pipe in fwd:
            pipe.on_flow_drop(fid, record.on_drop)
        s_host.start(start_us)
        r_host.start(start_us)
        flow = Flow(fid, app, s_host, r_host, record)
        self.flows.append(flow)
        return flow

    def close_logs(self, failed: bool = False) -> None:
        """Finish (or, after a failure, abandon) every Mahimahi log."""
        for log in self.logs:
            log.abort() if failed else log.close()


def _connect(pipes: list[Pipe], fid: int, host: Host) -> None:
    for here, nxt in zip(pipes, pipes[1:]):
        here.connect(fid, lambda pkt, t, nxt=nxt: nxt.send(pkt))
    pipes[-1].connect_host(fid, host)

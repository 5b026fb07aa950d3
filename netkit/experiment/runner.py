"""Run one experiment: build its apps, run them in the simulator or live, and measure.

`run(exp)` dispatches on `exp.mode`: `sim` builds a `netkit.sim.build.SimNetwork`
from the topology; `emu` hands the same topology and the same endpoints to the
live harness (`netkit.experiment.live`). Both fill one `FlowRecord` per flow and
return the same flat metrics: the network's (throughput, capacity, utilisation,
delay percentiles, loss over the window after `warmup_s`), each queue monitor's
(`queue.COMPONENT.l_sojourn_ms_p99`, ...), and each app's under its key
(`bulk.throughput_mbps`, `tokenstream.stall_ratio`, ...).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from netkit.experiment.app import App, AppContext, FlowPlan
from netkit.experiment.registry import get_app
from netkit.experiment.spec import Experiment
from netkit.net.seeds import component_seed
from netkit.sim.metrics import FlowRecord, percentile, wire_bytes_in
from netkit.trace.model import OPPORTUNITY_BYTES, Trace

STEP_US = 100_000  # the simulator runs in steps this long, so a run can end soon after its apps are done
QUEUE_METRICS = ("sojourn_ms_p50", "sojourn_ms_p95", "sojourn_ms_p99", "mark_rate", "drop_rate", "packets")

Progress = Callable[[float], None]


@dataclass
class RunResult:
    """A finished run: flat metrics, per-flow records, the apps, when it ended and what the links reported."""

    metrics: dict[str, float]
    records: list[FlowRecord]
    apps: list[App]
    end_us: int
    wall_s: float
    queue_summaries: dict[str, dict] = field(default_factory=dict)
    monitors: dict[str, Any] = field(default_factory=dict)  # sim: the QueueMonitors themselves
    link_stats: dict | None = None
    bottleneck_trace: Trace | None = None


@dataclass
class BuiltApp:
    """An app with its context and the flows it asked for."""

    app: App
    ctx: AppContext
    flows: list[FlowPlan]
    entry: Any


def build_apps(exp: Experiment) -> list[BuiltApp]:
    """Instantiate every app of `exp` with its context (seed derived from the run's seed and the app's key)."""
    built = []
    topo = exp.topology
    for i, entry in enumerate(exp.apps):
        cls = get_app(entry.module)
        ctx = AppContext(
            index=i, key=entry.key, seed=component_seed(exp.seed, f"apps.{entry.key}"),
            duration_us=exp.duration_us, warmup_us=exp.warmup_us, mode=exp.mode, server_host=entry.server,
            client_host=entry.client, start_us=int(round(entry.start_s * 1e6)),
            down_route=[topo.direction(c) for c in topo.route(entry.server, entry.client)],
            up_route=[topo.direction(c) for c in topo.route(entry.client, entry.server)],
        )
        app = cls(entry.params, ctx)
        flows = app.flows()
        start = int(round(entry.start_s * 1e6))
        flows = [FlowPlan(f.server, f.client, f.label, f.start_us + start) for f in flows]
        built.append(BuiltApp(app, ctx, flows, entry))
    return built


class Completion:
    """Counts `done` events of the apps that run to completion; `finished` once all have (never if none)."""

    def __init__(self, built: list[BuiltApp], on_finished: Callable[[], None] | None = None) -> None:
        self.waiting = {b.ctx.key for b in built if b.app.runs_to_completion}
        self.any = bool(self.waiting)
        self.on_finished = on_finished
        for b in built:
            b.ctx.on("done", self._done)

    def _done(self, ctx: AppContext, now_us: int | None = None) -> None:
        if ctx.key in self.waiting:
            self.waiting.discard(ctx.key)
            if self.finished and self.on_finished is not None:
                self.on_finished()

    @property
    def finished(self) -> bool:
        """Every app that runs to completion has emitted `done` (False when there is none)."""
        return self.any and not self.waiting


def run(exp: Experiment, log_dir: str | None = None, command: str = "netkit run",
        progress: Progress | None = None) -> RunResult:
    """Run `exp` in its mode; Mahimahi logs go into `log_dir` when given."""
    if exp.mode == "emu":
        from netkit.experiment.live import run_emu

        return run_emu(exp, log_dir, command, progress)
    return run_sim(exp, log_dir, command, progress)


def run_sim(exp: Experiment, log_dir: str | None = None, command: str = "netkit run",
            progress: Progress | None = None) -> RunResult:
    """Run `exp` in the simulator (bit for bit the same for the same experiment and seed)."""
    from netkit.sim.build import SimNetwork
    from netkit.sim.engine import Simulator

    t0 = time.perf_counter()
    sim = Simulator(exp.seed)
    net = SimNetwork(sim, exp.topology, exp.seed, log_dir, command)
    built = build_apps(exp)
    done = Completion(built)
    for b in built:
        attach = getattr(b.app, "attach_sim", None)   # apps that place their own node (the sfu app)
        if attach is not None:
            attach(sim, net)
        for f in b.flows:
            flow = net.add_flow(f.server, f.client, b.entry.server, b.entry.client, f.label, f.start_us)
            b.ctx.records.append(flow.record)
    end = exp.duration_us
    failed = True
    try:
        while sim.now < end and not done.finished:
            sim.run(min(sim.now + STEP_US, end))
            if progress is not None:
                progress(sim.now / 1e6)
        failed = False
    finally:
        net.close_logs(failed)
    end_us = sim.now
    queues = {name: m.summary(exp.warmup_us, end_us) for name, m in net.monitors.items()}
    link = net.trace_link(exp.topology.bottleneck()) if exp.topology.bottleneck() else None
    trace = link.trace if link is not None else None
    return finish(exp, built, end_us, time.perf_counter() - t0, queues, trace, monitors=dict(net.monitors))


def finish(exp: Experiment, built: list[BuiltApp], end_us: int, wall_s: float, queues: dict[str, dict],
           trace: Trace | None, link_stats: dict | None = None, monitors: dict | None = None) -> RunResult:
    """Collect the network's, the queues' and the apps' metrics into one flat dict."""
    records = [r for b in built for r in b.ctx.records]
    metrics = network_metrics(records, exp.warmup_us, end_us, trace)
    for comp, q in queues.items():
        for name in ("l", "c"):
            for m in QUEUE_METRICS:
                metrics[f"queue.{comp}.{name}_{m}"] = q[name][m]
    for b in built:
        b.ctx.end_us = end_us
        for k, val in b.app.metrics().items():
            metrics[f"{b.ctx.key}.{k}"] = val
    metrics["duration_s"] = end_us / 1e6
    return RunResult(metrics, records, [b.app for b in built], end_us, wall_s, queues, monitors or {}, link_stats,
                     trace)


def network_metrics(records: list[FlowRecord], start_us: int, end_us: int, trace: Trace | None) -> dict[str, float]:
    """Throughput, capacity and utilisation of the bottleneck, delay percentiles and loss over [start, end)."""
    window_s = max(end_us - start_us, 1) / 1e6
    delivered = 0
    delays = []
    for r in records:
        t = np.frombuffer(r.arrivals_us, dtype=np.int64)
        mask = (t >= start_us) & (t < end_us)
        delivered += int(np.frombuffer(r.sizes, dtype=np.int32)[mask].sum())
        delays.append(np.frombuffer(r.delays_us, dtype=np.int64)[mask] / 1000)
    d = np.concatenate(delays) if delays else np.array([])
    sent = sum(r.sent_packets for r in records)
    dropped = sum(r.dropped_packets for r in records)
    out = {
        "throughput_mbps": delivered * 8 / window_s / 1e6,
        "delay_ms_p50": percentile(d, 50),
        "delay_ms_p95": percentile(d, 95),
        "delay_ms_p99": percentile(d, 99),
        "loss_rate": dropped / sent if sent else 0.0,
    }
    if trace is not None:
        capacity = trace.opportunities_in(start_us // 1000, end_us // 1000) * OPPORTUNITY_BYTES
        out["capacity_mbps"] = capacity * 8 / window_s / 1e6
        out["utilization"] = wire_bytes_in(records, start_us, end_us) / capacity if capacity else 0.0
    return out


def bottleneck_trace(exp: Experiment) -> Trace | None:
    """The trace of the bottleneck direction (None without one)."""
    comp = exp.topology.bottleneck()
    spec = exp.topology.direction(comp) if comp else None
    return spec.schedule() if spec is not None else None


def app_flows(entry: dict, seed: int = 0) -> list[FlowPlan]:
    """The flows of one `[[apps]]` entry on a plain path, for drivers outside the runner (Mininet scripts)."""
    from netkit.experiment.spec import parse_experiment

    return build_apps(parse_experiment({"seed": seed, "apps": [dict(entry)]}))[0].flows

"""`netkit replay`: flows over a trace-driven path in the simulator, with a summary, Mahimahi logs and plots.

Each direction is built like nested Mahimahi shells, outermost first:
`mm-delay` (Delay), `mm-loss` (Bernoulli or Gilbert-Elliott loss), then `mm-link`
(TraceLink with its queue). Without `--uplink` the reverse path has delay only.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from netkit.experiment.apps import parse_app
from netkit.experiment.l4s_queues import QueueMonitor
from netkit.experiment.output import staged_output, write_json
from netkit.experiment.plots import plot_delay, plot_delay_cdf, plot_throughput
from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.log import LinkLog
from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.queues import make_queue
from netkit.link.tracelink import TraceLink
from netkit.sim.engine import Simulator
from netkit.sim.metrics import percentile, summarize_flow, wire_bytes_in
from netkit.sim.topology import Network
from netkit.trace import Trace, load_trace
from netkit.trace.model import OPPORTUNITY_BYTES


class ConfigError(ValueError):
    """A replay option with a value that cannot be used; the message names the option."""


@dataclass
class ReplayConfig:
    """Everything a replay run depends on (with the seed, it determines the result bit for bit)."""

    trace: str
    uplink: str | None = None
    delay_ms: float = 0.0
    loss: float = 0.0
    loss_model: str = "bernoulli"  # or "ge" (Gilbert-Elliott bursts, mean length `loss_burst`)
    loss_burst: float = 3.0
    queue: str | None = None
    uplink_queue: str | None = None
    apps: list[str] = field(default_factory=lambda: ["bulk"])
    duration_s: float = 30.0
    warmup_s: float = 0.0
    seed: int = 0
    mode: str = "sim"  # "sim": the simulator; "emu": real-time link between namespaces (netkit.emu.replay)

    def validate(self) -> None:
        """Raise ConfigError naming the first bad option."""
        if self.mode not in ("sim", "emu"):
            raise ConfigError(f"--mode must be sim or emu, got {self.mode!r}")
        if not self.duration_s > 0:
            raise ConfigError(f"--duration must be > 0 seconds, got {self.duration_s}")
        if not 0 <= self.warmup_s < self.duration_s:
            raise ConfigError(f"--warmup must be in [0, duration), got {self.warmup_s}")
        if self.delay_ms < 0:
            raise ConfigError(f"--delay must be >= 0 ms, got {self.delay_ms}")
        if not 0 <= self.loss < 1:
            raise ConfigError(f"--loss must be a probability in [0, 1), got {self.loss}")
        if self.loss_model not in ("bernoulli", "ge"):
            raise ConfigError(f"--loss-model must be bernoulli or ge, got {self.loss_model!r}")
        if not self.apps:
            raise ConfigError("--app: at least one workload is needed")
        for spec in self.apps:
            parse_app(spec)
        for opt, spec in (("--queue", self.queue), ("--uplink-queue", self.uplink_queue)):
            if spec is not None:
                try:
                    make_queue(spec)
                except ValueError as exc:
                    msg = str(exc)
                    if msg.startswith("--queue"):
                        msg = opt + msg[len("--queue"):]
                    else:
                        msg = f"{opt} {spec!r}: {msg}"
                    raise ConfigError(msg) from None


@dataclass
class ReplayResult:
    """What a run produced: its summary, the network (with per-flow records) and the traces."""

    config: ReplayConfig
    summary: dict
    network: Network
    downlink_trace: Trace
    wall_s: float
    queues: QueueMonitor | None = None  # per-queue (L/C) records when the bottleneck is DualPI2


def _direction(cfg: ReplayConfig, trace: Trace | None, queue: str | None, loss: float, log: LinkLog | None,
               seed: int) -> Chain:
    elements = []
    if cfg.delay_ms:
        elements.append(Delay.ms(cfg.delay_ms))
    if loss:
        if cfg.loss_model == "ge":
            elements.append(GilbertElliottLoss.from_rate(loss, cfg.loss_burst, seed=seed))
        else:
            elements.append(BernoulliLoss(loss, seed=seed))
    if trace is not None:
        elements.append(TraceLink(trace, make_queue(queue, seed=seed), log=log))
    return Chain(elements)


def _log_header(direction: str, trace_path: str, queue: str | None, command: str) -> list[str]:
    return [
        f"mahimahi mm-link ({direction}) [{trace_path}] > {direction}.log (written by netkit replay)",
        f"command line: {command}",
        f"queue: {make_queue(queue).describe()}",
        "init timestamp: 0",
        "base timestamp: 0",
    ]


def run_replay(cfg: ReplayConfig, log_dir: Path | None = None, command: str = "netkit replay",
               progress: Callable[[float], None] | None = None) -> ReplayResult:
    """Run the configured flows in the simulator; write Mahimahi logs into `log_dir` when given."""
    cfg.validate()
    down = load_trace(cfg.trace)
    up = load_trace(cfg.uplink) if cfg.uplink else None
    down_log = up_log = None
    if log_dir is not None:
        down_log = LinkLog(log_dir / "downlink.log", _log_header("downlink", cfg.trace, cfg.queue, command))
        if up is not None:
            up_log = LinkLog(log_dir / "uplink.log", _log_header("uplink", cfg.uplink, cfg.uplink_queue, command))
    sim = Simulator(cfg.seed)
    forward = _direction(cfg, down, cfg.queue, cfg.loss, down_log, seed=cfg.seed * 2 + 1)
    reverse = _direction(cfg, up, cfg.uplink_queue, 0.0, up_log, seed=cfg.seed * 2 + 2)
    net = Network(sim, forward, reverse)
    queues = QueueMonitor.attach(net.forward.element)
    for spec in cfg.apps:
        app = parse_app(spec)
        net.add_flow(app.make_sender(), app.make_receiver(), app.label)
    end_us = int(cfg.duration_s * 1e6)
    t0 = time.perf_counter()
    try:
        sim.run(end_us, progress=(lambda t: progress(t / 1e6)) if progress else None)
    except BaseException:
        for log in (down_log, up_log):
            if log:
                log.abort()
        raise
    wall = time.perf_counter() - t0
    for log in (down_log, up_log):
        if log:
            log.close()
    summary = summarize(cfg, net, down, wall, sim.events_run)
    if queues is not None:
        summary["queues"] = queues.summary(int(cfg.warmup_s * 1e6), end_us)
    return ReplayResult(cfg, summary, net, down, wall, queues)


def summarize(cfg: ReplayConfig, net: Network, trace: Trace, wall_s: float, events: int) -> dict:
    """The run's summary: capacity, throughput, utilisation, delay percentiles, loss, per-flow figures."""
    start = int(cfg.warmup_s * 1e6)
    end = int(cfg.duration_s * 1e6)
    window_s = (end - start) / 1e6
    records = [f.record for f in net.flows]
    opportunities = trace.opportunities_in(start // 1000, end // 1000)
    capacity_bytes = opportunities * OPPORTUNITY_BYTES
    flows = [summarize_flow(r, start, end) for r in records]
    delays = []
    for r in records:
        t = np.frombuffer(r.arrivals_us, dtype=np.int64)
        d = np.frombuffer(r.delays_us, dtype=np.int64)
        delays.append(d[(t >= start) & (t < end)] / 1000)
    d_all = np.concatenate(delays) if delays else np.array([])
    sent = sum(r.sent_packets for r in records)
    dropped = sum(r.dropped_packets for r in records)
    summary = {
        "capacity_mbps": capacity_bytes * 8 / window_s / 1e6,
        "throughput_mbps": sum(f["throughput_mbps"] for f in flows),
        "utilization": wire_bytes_in(records, start, end) / capacity_bytes if capacity_bytes else 0.0,
        "delay_ms_p50": percentile(d_all, 50),
        "delay_ms_p95": percentile(d_all, 95),
        "delay_ms_p99": percentile(d_all, 99),
        "loss_rate": dropped / sent if sent else 0.0,
        "flows": flows,
        "window_s": [cfg.warmup_s, cfg.duration_s],
        "config": asdict(cfg),
        "sim": {"events": events, "wall_s": wall_s, "speedup_over_real_time": cfg.duration_s / wall_s if wall_s else None},
    }
    queue = _bottleneck_queue(net)
    if queue is not None and hasattr(queue, "stats"):
        summary["queue_stats"] = queue.stats()
    return summary


def _bottleneck_queue(net: Network):
    for el in getattr(net.forward.element, "elements", [net.forward.element]):
        if isinstance(el, TraceLink):
            return el.queue
    return None


def replay_to_dir(cfg: ReplayConfig, out: str | Path, force: bool = False, command: str = "netkit replay",
                  progress: Callable[[float], None] | None = None) -> ReplayResult:
    """Run and write summary.json, Mahimahi logs and PNG plots into `out` (all or nothing)."""
    cfg.validate()
    with staged_output(out, force=force) as stage:
        result = run_replay(cfg, log_dir=stage, command=command, progress=progress)
        records = [f.record for f in result.network.flows]
        end_us = int(cfg.duration_s * 1e6)
        plot_throughput(stage / "throughput.png", result.downlink_trace, records, end_us)
        plot_delay(stage / "delay.png", records)
        plot_delay_cdf(stage / "delay_cdf.png", records)
        write_json(stage / "summary.json", result.summary)
    return result


def summary_line(summary: dict) -> str:
    """One line: capacity, throughput, utilisation, delay percentiles and loss."""
    return (
        f"capacity {summary['capacity_mbps']:.2f} Mbit/s, throughput {summary['throughput_mbps']:.2f} Mbit/s "
        f"({summary['utilization'] * 100:.1f}% utilisation), delay p50/p95/p99 "
        f"{summary['delay_ms_p50']:.1f}/{summary['delay_ms_p95']:.1f}/{summary['delay_ms_p99']:.1f} ms, "
        f"loss {summary['loss_rate'] * 100:.2f}%"
    )

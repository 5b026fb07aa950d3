"""`run_replay_emu`: the `netkit replay` workloads on a live link, taking the same `ReplayConfig` as the simulator.

Two fresh namespaces hold the senders (outside) and the receivers (inside); a
`TunLink` built from the config joins them, with the same element chains, seeds
and Mahimahi logs as the simulator's run. Every flow's two sans-I/O endpoints run
unchanged over real UDP sockets (`UdpEndpointDriver`), and a `FlowMeter` fills the
same `FlowRecord`s, so `netkit.experiment.replay.summarize` produces a summary
with the same keys. Network drops per flow come from the link process.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from netkit.emu import netns
from netkit.emu.clock import Clock
from netkit.emu.driver import run as run_precise
from netkit.emu.errors import require_root, require_tun
from netkit.emu.flows import FlowSpec, run_flows
from netkit.emu.linkspec import LinkSpec
from netkit.emu.names import new_name
from netkit.emu.resources import registry
from netkit.emu.tunlink import TunLink
from netkit.experiment.replay import ReplayConfig, summarize
from netkit.link.chain import Chain
from netkit.sim.metrics import FlowRecord
from netkit.trace import Trace, load_trace

BASE_PORT = 20000


@dataclass
class EmuReplayResult:
    """What a live run produced: summary (same keys as the simulator's), per-flow records, link statistics."""

    config: ReplayConfig
    summary: dict
    records: list[FlowRecord]
    link_stats: dict | None
    downlink_trace: Trace
    wall_s: float


def run_replay_emu(cfg: ReplayConfig, log_dir: Path | None = None, command: str = "netkit replay --mode emu",
                   progress: Callable[[float], None] | None = None, realtime: bool = True) -> EmuReplayResult:
    """Run the configured flows for `cfg.duration_s` real seconds over a live link; summarise as the simulator does.

    With `realtime` (default) the link process and, while the flows run, the calling thread use SCHED_FIFO,
    so the result does not depend on what else loads the machine.
    """
    cfg.validate()
    require_root("netkit replay --mode emu")
    require_tun()
    reg = registry()
    spec = LinkSpec.from_options(
        trace=cfg.trace, uplink=cfg.uplink, delay_ms=cfg.delay_ms, loss=cfg.loss, queue=cfg.queue,
        uplink_queue=cfg.uplink_queue, loss_model=cfg.loss_model, loss_burst=cfg.loss_burst, seed=cfg.seed,
        log_dir=str(log_dir) if log_dir is not None else None, command=command,
    )
    down = load_trace(cfg.trace)
    outside, inside = new_name("a"), new_name("b")
    tokens = []
    link = None
    t0 = time.perf_counter()
    try:
        for name in (outside, inside):
            netns.create(name)
            tokens.append(reg.add(f"network namespace {name}", lambda n=name: netns.remove(n)))
        window = (int(cfg.warmup_s * 1e6), int(cfg.duration_s * 1e6))
        link = TunLink(spec, inside, outside, realtime=realtime, reg=reg, queue_window_us=window).start()
        clock = Clock(link.epoch_ns)
        flows = [FlowSpec(app, outside, link.outer_addr, inside, link.inner_addr, BASE_PORT + i + 1)
                 for i, app in enumerate(cfg.apps)]
        runs = run_precise(run_flows(flows, cfg.duration_s, clock, progress), realtime=realtime)
    finally:
        stats = link.close() if link is not None else None
        for token in reversed(tokens):
            reg.release(token)
    wall = time.perf_counter() - t0
    records = [run.record for run in runs]
    if stats:
        drops = stats["downlink"]["drops_by_flow"]
        for run in runs:
            key = f"udp {link.outer_addr}:{run.sender_port}>{link.inner_addr}:{run.spec.port}"
            run.record.dropped_packets = drops.get(key, 0)
    net = SimpleNamespace(flows=[SimpleNamespace(record=r) for r in records],
                          forward=SimpleNamespace(element=Chain([])))
    summary = summarize(cfg, net, down, wall, 0)
    summary.pop("sim", None)
    summary["mode"] = "emu"
    summary["emu"] = {"wall_s": wall, "link": stats}
    if stats and "queue_stats" in stats["downlink"]:
        summary["queue_stats"] = stats["downlink"]["queue_stats"]
    if stats and "queues" in stats["downlink"]:
        summary["queues"] = stats["downlink"]["queues"]
    return EmuReplayResult(cfg, summary, records, stats, down, wall)


def replay_emu_to_dir(cfg: ReplayConfig, out: str | Path, force: bool = False,
                      command: str = "netkit replay --mode emu", progress: Callable[[float], None] | None = None,
                      realtime: bool = True) -> EmuReplayResult:
    """Like `replay_to_dir`: summary.json, Mahimahi logs and plots in `out`, all or nothing."""
    from netkit.experiment.output import staged_output, write_json
    from netkit.experiment.plots import plot_delay, plot_delay_cdf, plot_throughput

    cfg.validate()
    with staged_output(out, force=force) as stage:
        result = run_replay_emu(cfg, log_dir=stage, command=command, progress=progress, realtime=realtime)
        end_us = int(cfg.duration_s * 1e6)
        plot_throughput(stage / "throughput.png", result.downlink_trace, result.records, end_us)
        plot_delay(stage / "delay.png", result.records)
        plot_delay_cdf(stage / "delay_cdf.png", result.records)
        write_json(stage / "summary.json", result.summary)
    return result

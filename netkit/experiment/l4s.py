"""The L4S dumbbell: one Prague and one Cubic flow through a DualPI2 bottleneck, measured per queue.

`L4SConfig` describes the experiment independently of the driver (rate, base RTT,
queue spec, workloads, duration, the start-up time left out of the measurements), so
a live driver can reuse it; `run_sim` runs it in the simulator through `run_replay`.
`evaluate` turns a run into the headline numbers and checks them against the L4S
targets (issue 4):

* L-queue p99 sojourn <= 2 ms,
* C-queue median sojourn within 15 +- 3 ms,
* throughput ratio (first flow / second flow) within [0.5, 2],
* utilisation >= 95 %,

all measured after the first `skip_s` seconds.

    python -m netkit.experiment.l4s --out results/l4s [--duration 30] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from netkit.experiment.l4s_queues import QueueMonitor
from netkit.experiment.output import staged_output, write_json
from netkit.experiment.replay import ReplayConfig, ReplayResult, run_replay
from netkit.trace import write_mahimahi
from netkit.trace.synth import constant

# (metric, lower bound, upper bound)
TARGETS: dict[str, tuple[float, float]] = {
    "l_sojourn_ms_p99": (0.0, 2.0),
    "c_sojourn_ms_p50": (12.0, 18.0),
    "throughput_ratio": (0.5, 2.0),
    "utilization": (0.95, math.inf),
}


@dataclass
class L4SConfig:
    """The dumbbell, independent of the driver: bottleneck rate, base RTT, AQM, flows, timing."""

    rate_mbps: float = 100.0
    base_rtt_ms: float = 20.0
    queue: str = "dualpi2"
    apps: list[str] = field(default_factory=lambda: ["prague", "cubic"])
    duration_s: float = 30.0
    skip_s: float = 2.0  # start-up left out of every measurement
    seed: int = 0
    trace: str | None = None  # a trace file instead of the constant rate

    def queue_spec(self) -> str:
        """The queue spec, seeded from `seed` unless it names its own seed (make_queue does not see the run's seed)."""
        name, _, opts = self.queue.partition(":")
        if "seed=" in opts:
            return self.queue
        return f"{name}:{opts + ',' if opts else ''}seed={self.seed}"

    def replay_config(self, trace_path: str) -> ReplayConfig:
        """The simulator's view: half the base RTT of delay each way, the queue on the downlink."""
        return ReplayConfig(
            trace=trace_path, delay_ms=self.base_rtt_ms / 2, queue=self.queue_spec(), apps=list(self.apps),
            duration_s=self.duration_s, warmup_s=self.skip_s, seed=self.seed,
        )


@dataclass
class L4SRun:
    """A finished run: the replay result (flows, queue monitor) and the evaluated numbers."""

    config: L4SConfig
    replay: ReplayResult
    metrics: dict[str, float]
    checks: dict[str, dict]

    @property
    def monitor(self) -> QueueMonitor:
        """The per-queue records."""
        assert self.replay.queues is not None
        return self.replay.queues

    @property
    def passed(self) -> bool:
        """True when every target is met."""
        return all(c["ok"] for c in self.checks.values())


def run_sim(cfg: L4SConfig) -> L4SRun:
    """Run the dumbbell in the simulator and evaluate it."""
    with tempfile.TemporaryDirectory(prefix="netkit-l4s-") as tmp:
        trace_path = cfg.trace
        if trace_path is None:
            trace_path = str(Path(tmp) / f"constant-{cfg.rate_mbps:g}mbps.trace")
            write_mahimahi(constant(cfg.rate_mbps, 10.0), trace_path)  # the trace loops
        result = run_replay(cfg.replay_config(trace_path))
    if result.queues is None:
        raise ValueError(f"queue {cfg.queue!r} has no per-queue departure hook; the L4S experiment needs dualpi2")
    metrics = evaluate(result.summary)
    return L4SRun(cfg, result, metrics, check(metrics))


def evaluate(summary: dict) -> dict[str, float]:
    """Headline numbers from a replay summary that holds `queues` (the ratio is NaN with one flow)."""
    q, flows = summary["queues"], summary["flows"]
    ratio = math.nan
    if len(flows) >= 2:
        a, b = flows[0]["throughput_mbps"], flows[1]["throughput_mbps"]
        ratio = a / b if b else math.inf
    return {
        "l_sojourn_ms_p50": q["l"]["sojourn_ms_p50"],
        "l_sojourn_ms_p99": q["l"]["sojourn_ms_p99"],
        "c_sojourn_ms_p50": q["c"]["sojourn_ms_p50"],
        "c_sojourn_ms_p99": q["c"]["sojourn_ms_p99"],
        "throughput_ratio": ratio,
        "utilization": summary["utilization"],
        "l_mark_rate": q["l"]["mark_rate"],
        "c_mark_rate": q["c"]["mark_rate"],
        "l_drop_rate": q["l"]["drop_rate"],
        "c_drop_rate": q["c"]["drop_rate"],
        **{f"{f['app']}_mbps": f["throughput_mbps"] for f in flows},
    }


def check(metrics: dict[str, float]) -> dict[str, dict]:
    """Each target: value, bounds and whether it is met."""
    out = {}
    for name, (lo, hi) in TARGETS.items():
        v = metrics[name]
        out[name] = {"value": v, "min": lo, "max": hi if hi != math.inf else None, "ok": bool(lo <= v <= hi)}
    return out


def write_results(run: L4SRun, out: str | Path, force: bool = False, command: str = "") -> None:
    """Write summary.json, l4s.json (numbers and checks) and the PNG plots into `out` (all or nothing)."""
    from netkit.experiment import l4s_plots as plots

    cfg = run.config
    start, end = int(cfg.skip_s * 1e6), int(cfg.duration_s * 1e6)
    records = [f.record for f in run.replay.network.flows]
    with staged_output(out, force=force) as stage:
        plots.plot_sojourn_cdf(stage / "l4s_sojourn_cdf.png", run.monitor, start, end)
        plots.plot_sojourn_time(stage / "l4s_sojourn_time.png", run.monitor, end)
        plots.plot_throughput_shares(stage / "l4s_throughput.png", records, run.replay.summary["capacity_mbps"], end)
        plots.plot_mark_drop_rates(stage / "l4s_marks_drops.png", run.monitor, end)
        write_json(stage / "summary.json", run.replay.summary)
        write_json(stage / "l4s.json", {
            "config": asdict(cfg), "command": command, "metrics": run.metrics, "checks": run.checks,
            "passed": run.passed, "queue_stats": run.replay.summary.get("queue_stats"),
        })


def table(run: L4SRun) -> str:
    """The checks as a Markdown table."""
    rows = ["| metric | value | target | ok |", "|---|---|---|---|"]
    for name, c in run.checks.items():
        hi = "" if c["max"] is None else f"{c['max']:g}"
        rows.append(f"| {name} | {c['value']:.3f} | [{c['min']:g}, {hi or 'inf'}] | {'yes' if c['ok'] else 'NO'} |")
    return "\n".join(rows)


def demo_part(out: Path) -> list[str]:
    """The L4S part of `make demo`: one Prague and one Cubic flow over DualPI2 at 100 Mbit/s, 20 ms RTT, 30 s."""
    run = run_sim(L4SConfig())
    write_results(run, out, force=True, command="netkit demo (l4s)")
    flows = run.replay.summary["flows"]
    lines = [f"{f['app']}: {f['throughput_mbps']:.1f} Mbit/s, delay p99 {f['delay_ms_p99']:.1f} ms, "
             f"CE fraction {f['ce_fraction']:.3f}" for f in flows]
    for name, c in run.checks.items():
        bound = f"[{c['min']:g}, {'inf' if c['max'] is None else format(c['max'], 'g')}]"
        lines.append(f"{name} = {c['value']:.3f} (target {bound}): {'met' if c['ok'] else 'MISSED'}")
    lines.append(f"plots and l4s.json -> {out}/")
    return lines


def build_parser(prog: str = "python -m netkit.experiment.l4s") -> argparse.ArgumentParser:
    """Arguments of `python -m netkit.experiment.l4s`."""
    d = L4SConfig()
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="results folder (created whole or not at all)")
    p.add_argument("--rate", type=float, default=d.rate_mbps, help="bottleneck Mbit/s (constant trace)")
    p.add_argument("--trace", help="trace file instead of the constant rate")
    p.add_argument("--rtt", type=float, default=d.base_rtt_ms, help="base RTT in ms")
    p.add_argument("--queue", default=d.queue, help="bottleneck queue spec, dualpi2[:opt=val,...]")
    p.add_argument("--app", action="append", dest="apps", help="workloads (default: prague, cubic)")
    p.add_argument("--duration", type=float, default=d.duration_s, help="simulated seconds")
    p.add_argument("--skip", type=float, default=d.skip_s, help="seconds left out of the measurements")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return p


def config_from_args(args: argparse.Namespace) -> L4SConfig:
    """An L4SConfig from parsed arguments."""
    return L4SConfig(rate_mbps=args.rate, base_rtt_ms=args.rtt, queue=args.queue, apps=args.apps or ["prague", "cubic"],
                     duration_s=args.duration, skip_s=args.skip, seed=args.seed, trace=args.trace)


def main(argv: list[str] | None = None, prog: str = "python -m netkit.experiment.l4s") -> int:
    """Run in the simulator, write the results folder, print the table."""
    args = build_parser(prog).parse_args(argv)
    cfg = config_from_args(args)
    run = run_sim(cfg)
    command = f"{prog} " + " ".join(sys.argv[1:] if argv is None else argv)
    write_results(run, args.out, force=args.force, command=command)
    m = run.metrics
    flows = ", ".join(f"{f['app']} {f['throughput_mbps']:.1f}" for f in run.replay.summary["flows"])
    print(f"throughput (Mbit/s): {flows}; wall {run.replay.wall_s:.1f} s")
    print(f"L sojourn p50/p99 {m['l_sojourn_ms_p50']:.2f}/{m['l_sojourn_ms_p99']:.2f} ms, "
          f"C sojourn p50/p99 {m['c_sojourn_ms_p50']:.2f}/{m['c_sojourn_ms_p99']:.2f} ms")
    print(table(run))
    print(f"{'PASS' if run.passed else 'FAIL'} -> {args.out}/l4s.json")
    return 1 if args.check and not run.passed else 0


if __name__ == "__main__":
    sys.exit(main())

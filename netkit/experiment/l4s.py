"""The L4S dumbbell: one Prague and one Cubic flow through a DualPI2 bottleneck, measured per queue.

`l4s_experiment()` describes it as an experiment (a `dumbbell` of one pair per
flow; the bottleneck a constant-rate or trace link with half the base RTT of
delay each way and the queue on the downlink), the same as `emulation/l4s.toml`.
`run_l4s` runs it (sim or emu) with the record of every command, and `evaluate`
turns its flat metrics into the headline numbers, checked against the L4S
targets (issue 4), all measured after the first `skip_s` seconds:

* L-queue p99 sojourn <= 2 ms,
* C-queue median sojourn within 15 +- 3 ms,
* throughput ratio (first flow / second flow) within [0.5, 2],
* utilisation >= 95 %.

    netkit l4s --out results/l4s [--duration 30] [--seed 0] [--mode sim|emu]
    python -m netkit.experiment.l4s --out results/l4s
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from netkit import validate as v

# (metric, lower bound, upper bound)
TARGETS: dict[str, tuple[float, float]] = {
    "l_sojourn_ms_p99": (0.0, 2.0),
    "c_sojourn_ms_p50": (12.0, 18.0),
    "throughput_ratio": (0.5, 2.0),
    "utilization": (0.95, math.inf),
}
DEFAULTS = {"rate_mbps": 100.0, "base_rtt_ms": 20.0, "queue": "dualpi2", "apps": ["prague", "cubic"],
            "duration_s": 30.0, "skip_s": 2.0, "seed": 0, "trace": None, "mode": "sim"}


def l4s_experiment(rate_mbps: float = 100.0, base_rtt_ms: float = 20.0, queue: str = "dualpi2",
                   apps: list[str] | None = None, duration_s: float = 30.0, skip_s: float = 2.0, seed: int = 0,
                   trace: str | None = None, mode: str = "sim") -> dict:
    """The experiment table of the dumbbell (validate with `parse_experiment`)."""
    from netkit.experiment.replay import app_entry

    entries = [app_entry(a) for a in (apps or ["prague", "cubic"])]
    for i, e in enumerate(entries):
        if sum(x["name"] == e["name"] for x in entries[:i]):
            e["name"] = f"{e['name']}-{i + 1}"
    return {
        "name": "l4s-dumbbell", "duration_s": duration_s, "warmup_s": skip_s, "seed": seed, "mode": mode,
        "topology": {"kind": "dumbbell", "pairs": len(entries)},
        "links": {"down": {"trace": trace or f"constant:{rate_mbps:g}", "delay_ms": base_rtt_ms / 2, "queue": queue},
                  "up": {"delay_ms": base_rtt_ms / 2}},
        "apps": entries,
    }


@dataclass
class L4SRun:
    """A finished run: the experiment, the runner's result and the evaluated numbers with their checks."""

    experiment: object
    result: object
    metrics: dict[str, float]
    checks: dict[str, dict]

    @property
    def passed(self) -> bool:
        """True when every target is met."""
        return all(c["ok"] for c in self.checks.values())


def evaluate(metrics: dict, apps: list[str]) -> dict[str, float]:
    """Headline numbers from a run's flat metrics (the ratio is NaN with one flow)."""
    if "queue.down.l_sojourn_ms_p50" not in metrics:
        from netkit.errors import UserError

        raise UserError("the bottleneck queue has no per-queue (L/C) monitor; the L4S experiment needs dualpi2",
                        source="--queue")
    q = lambda name: metrics[f"queue.down.{name}"]  # noqa: E731
    ratio = math.nan
    if len(apps) >= 2:
        a, b = metrics[f"{apps[0]}.throughput_mbps"], metrics[f"{apps[1]}.throughput_mbps"]
        ratio = a / b if b else math.inf
    return {
        "l_sojourn_ms_p50": q("l_sojourn_ms_p50"), "l_sojourn_ms_p99": q("l_sojourn_ms_p99"),
        "c_sojourn_ms_p50": q("c_sojourn_ms_p50"), "c_sojourn_ms_p99": q("c_sojourn_ms_p99"),
        "throughput_ratio": ratio, "utilization": metrics["utilization"],
        "l_mark_rate": q("l_mark_rate"), "c_mark_rate": q("c_mark_rate"),
        "l_drop_rate": q("l_drop_rate"), "c_drop_rate": q("c_drop_rate"),
        **{f"{a}_mbps": metrics[f"{a}.throughput_mbps"] for a in apps},
    }


def check(metrics: dict[str, float]) -> dict[str, dict]:
    """Each target: value, bounds and whether it is met."""
    out = {}
    for name, (lo, hi) in TARGETS.items():
        val = metrics[name]
        out[name] = {"value": val, "min": lo, "max": hi if hi != math.inf else None, "ok": bool(lo <= val <= hi)}
    return out


def run_l4s(data: dict, out: str | Path | None = None, force: bool = False, command: str = "netkit l4s",
            progress=None) -> L4SRun:
    """Run the dumbbell table `data`; with `out`, write the record, l4s.json and the L4S plots there."""
    from netkit.experiment.runner import run
    from netkit.experiment.spec import parse_experiment

    from netkit.errors import UserError
    from netkit.link.dualpi2 import DualPI2Queue
    from netkit.link.queues import make_queue

    exp = parse_experiment(data, "")
    if not isinstance(make_queue(exp.topology.down.queue), DualPI2Queue):
        raise UserError("the bottleneck queue has no per-queue (L/C) monitor; the L4S experiment needs dualpi2",
                        source="--queue")  # refused before the run, not after it
    apps = [a.key for a in exp.apps]
    holder: dict = {}

    def extra(stage: Path, result) -> None:
        holder["run"] = _evaluated(exp, result, apps)
        _write_extra(stage, holder["run"], command)

    if out is None:
        return _evaluated(exp, run(exp, command=command, progress=progress), apps)
    from netkit.experiment.single import run_to_dir

    run_to_dir(exp, out, force=force, command=command, progress=progress, extra=extra)
    return holder["run"]


def _evaluated(exp, result, apps: list[str]) -> L4SRun:
    metrics = evaluate(result.metrics, apps)
    return L4SRun(exp, result, metrics, check(metrics))


def _write_extra(stage: Path, run: L4SRun, command: str) -> None:
    from netkit.experiment import l4s_plots
    from netkit.experiment.output import write_json

    res = run.result
    if res.records and "capacity_mbps" in res.metrics:
        l4s_plots.plot_throughput_shares(stage / "l4s_throughput.png", res.records, res.metrics["capacity_mbps"],
                                         res.end_us)
    write_json(stage / "l4s.json", {"experiment": dict(run.experiment.data), "command": command,
                                    "metrics": run.metrics, "checks": run.checks, "passed": run.passed,
                                    "queues": res.queue_summaries})


def table(run: L4SRun) -> str:
    """The checks as a Markdown table."""
    rows = ["| metric | value | target | ok |", "|---|---|---|---|"]
    for name, c in run.checks.items():
        hi = "" if c["max"] is None else f"{c['max']:g}"
        rows.append(f"| {name} | {c['value']:.3f} | [{c['min']:g}, {hi or 'inf'}] | {'yes' if c['ok'] else 'NO'} |")
    return "\n".join(rows)


def demo_part(out: Path) -> list[str]:
    """The L4S part of `make demo`: one Prague and one Cubic flow over DualPI2 at 100 Mbit/s, 20 ms RTT, 30 s."""
    run = run_l4s(l4s_experiment(), out, force=True, command="netkit demo (l4s)")
    m = run.result.metrics
    lines = [f"{a}: {m[f'{a}.throughput_mbps']:.1f} Mbit/s, delay p99 {m[f'{a}.delay_ms_p99']:.1f} ms, "
             f"CE fraction {m[f'{a}.ce_fraction']:.3f}" for a in ("prague", "cubic")]
    for name, c in run.checks.items():
        bound = f"[{c['min']:g}, {'inf' if c['max'] is None else format(c['max'], 'g')}]"
        lines.append(f"{name} = {c['value']:.3f} (target {bound}): {'met' if c['ok'] else 'MISSED'}")
    lines.append(f"plots, record and l4s.json -> {out}/")
    return lines


def _add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    p.add_argument("--rate", type=v.rate_arg, default=d["rate_mbps"], help="bottleneck Mbit/s (constant trace)")
    p.add_argument("--trace", help="trace file instead of the constant rate")
    p.add_argument("--rtt", type=v.delay_arg, default=d["base_rtt_ms"], help="base RTT in ms")
    p.add_argument("--queue", default=d["queue"], help="bottleneck queue spec, dualpi2[:opt=val,...]")
    p.add_argument("--app", action="append", dest="apps", help="workloads (default: prague, cubic)")
    p.add_argument("--duration", type=v.duration_arg, default=d["duration_s"], help="seconds")
    p.add_argument("--skip", type=v.arg_number(0, v.MAX_DURATION_S), default=d["skip_s"], help="seconds left out of the measurements")
    p.add_argument("--seed", type=v.seed_arg, default=d["seed"])
    p.add_argument("--mode", choices=("sim", "emu"), default="sim", help="simulator (default) or live (root)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")


def add_l4s_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit l4s`."""
    p = sub.add_parser("l4s", help="the L4S dumbbell: Prague and Cubic through DualPI2, checked against targets")
    _add_arguments(p)
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace, prog: str = "netkit l4s") -> int:
    from netkit.cli_args import options_named
    from netkit.errors import UserError

    if args.trace is not None and not args.trace.strip():
        raise UserError("expected a trace file or constant:MBPS, got an empty string", source="--trace")

    data = l4s_experiment(args.rate, args.rtt, args.queue, args.apps, args.duration, args.skip, args.seed,
                          args.trace, args.mode)
    command = f"{prog} " + " ".join(sys.argv[1:])
    with options_named({"links.down.trace": "--trace" if args.trace else "--rate", "links.down.queue": "--queue",
                        "duration_s": "--duration", "warmup_s": "--skip", "links.down.delay_ms": "--rtt",
                        "apps": "--app"}):
        run = run_l4s(data, args.out, force=args.force, command=command)
    m = run.metrics
    apps = [a.key for a in run.experiment.apps]
    flows = ", ".join(f"{a} {run.result.metrics[f'{a}.throughput_mbps']:.1f}" for a in apps)
    print(f"throughput (Mbit/s): {flows}; wall {run.result.wall_s:.1f} s")
    print(f"L sojourn p50/p99 {m['l_sojourn_ms_p50']:.2f}/{m['l_sojourn_ms_p99']:.2f} ms, "
          f"C sojourn p50/p99 {m['c_sojourn_ms_p50']:.2f}/{m['c_sojourn_ms_p99']:.2f} ms")
    print(table(run))
    print(f"{'PASS' if run.passed else 'FAIL'} -> {args.out}/l4s.json")
    return 1 if args.check and not run.passed else 0


def main(argv: list[str] | None = None, prog: str = "python -m netkit.experiment.l4s") -> int:
    """`python -m netkit.experiment.l4s`: the same as `netkit l4s`."""
    from netkit.entry import run_command

    def build() -> argparse.ArgumentParser:
        p = v.OneLineParser(prog=prog, description=__doc__.split("\n")[0])
        _add_arguments(p)
        p.set_defaults(func=lambda args: _cli(args, prog))
        return p

    return run_command(build, argv, lambda args: prog)


if __name__ == "__main__":
    sys.exit(main())

"""`netkit run`: one experiment into a results folder with the full record, Mahimahi logs and plots."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from netkit.experiment.output import run_record, staged_output, write_record
from netkit.experiment.runner import RunResult, run
from netkit.experiment.spec import Experiment
from netkit.experiment.sweep import run_id_of


def write_run_plots(stage: Path, exp: Experiment, result: RunResult) -> None:
    """Throughput against capacity, delay over time and delay CDF; per-queue plots for DualPI2 bottlenecks."""
    from netkit.experiment.plots import plot_delay, plot_delay_cdf, plot_throughput

    if result.records:
        plot_throughput(stage / "throughput.png", result.bottleneck_trace, result.records, result.end_us)
        plot_delay(stage / "delay.png", result.records)
        plot_delay_cdf(stage / "delay_cdf.png", result.records)
    for comp, monitor in result.monitors.items():
        from netkit.experiment import l4s_plots

        prefix = f"queue_{comp}"
        l4s_plots.plot_sojourn_cdf(stage / f"{prefix}_sojourn_cdf.png", monitor, exp.warmup_us, result.end_us)
        l4s_plots.plot_sojourn_time(stage / f"{prefix}_sojourn_time.png", monitor, result.end_us)
        l4s_plots.plot_mark_drop_rates(stage / f"{prefix}_marks_drops.png", monitor, result.end_us)


def run_to_dir(exp: Experiment, out: str | os.PathLike, force: bool = False, command: str = "netkit run",
               progress: Callable[[float], None] | None = None,
               extra: Callable[[Path, RunResult], None] | None = None) -> RunResult:
    """Run `exp` and write config.json, runs.jsonl, summary.json, link logs and plots into `out` (all or nothing).

    `extra(stage, result)` lets a front end add its own files before the folder is put in place.
    """
    with staged_output(out, force=force) as stage:
        t0 = time.perf_counter()
        result = run(exp, log_dir=str(stage), command=command, progress=progress)
        params = {"seed": exp.seed}
        rec = run_record(run_id_of(params), params, result.metrics, wall_s=time.perf_counter() - t0)
        write_record(stage, dict(exp.data), command, [rec], [], mode=exp.mode, link_stats=result.link_stats)
        write_run_plots(stage, exp, result)
        if extra is not None:
            extra(stage, result)
    return result

"""Sweeps: the cross product of grid axes and seeds, run on a local process pool or on Ray, recorded as they finish.

A grid axis is a list of override tables (`{"links.down.loss": 0.01}`); `--grid
KEY=V1,V2` makes an axis of one key, and a front end may tie keys together in one
axis (a downlink trace with its uplink twin). Each point's `run_id` is a hash of
its parameters, so a rerun with `--resume` recognises what is done and runs only
what is missing. A run that fails records its error and the sweep goes on.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from netkit import interrupts
from netkit.errors import UserError
from netkit.experiment.output import RunLog, config_record, resumable_output, run_record, summarize_runs, write_json
from netkit.experiment.spec import Experiment, parse_experiment, parse_value, set_key

ENGINES = ("local", "ray")


def run_id_of(params: dict) -> str:
    """A stable id of a run's parameters."""
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """`KEY=V1,V2,...` (or `KEY=[V1, V2]` as a TOML array, for values with commas) into the key and values."""
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key or not values.strip():
        raise UserError(f"expected KEY=V1,V2,..., got {text!r}", source="--grid")
    values = values.strip()
    if values.startswith("["):
        parsed = parse_value(values)
        if not isinstance(parsed, list) or not parsed:
            raise UserError(f"{key}: expected a non-empty TOML array, got {values!r}", source="--grid")
        return key, parsed
    return key, [parse_value(x.strip()) for x in values.split(",") if x.strip()]


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its id, the parameters it records, and the overrides that make it."""

    run_id: str
    params: dict
    overrides: tuple[tuple[str, Any], ...]


@dataclass
class Sweep:
    """An experiment table, the grid axes over it and the seeds."""

    data: dict
    source: str = ""
    base_dir: str = "."
    axes: list[list[dict[str, Any]]] = field(default_factory=list)
    seeds: list[int] | None = None  # None: the experiment's own seed only

    @property
    def grid_keys(self) -> list[str]:
        """Every swept key, in axis order."""
        keys: list[str] = []
        for axis in self.axes:
            for point in axis:
                for k in point:
                    if k not in keys:
                        keys.append(k)
        return keys

    def points(self) -> list[Point]:
        """Every run: the product of the axes, times the seeds."""
        seeds = self.seeds if self.seeds is not None else [self.data.get("seed", 0)]
        out = []
        for combo in itertools.product(*self.axes) if self.axes else [()]:
            merged: dict[str, Any] = {}
            for d in combo:
                merged.update(d)
            for s in seeds:
                params = {"seed": s, **merged}  # an axis may set the seed itself
                out.append(Point(run_id_of(params), params, tuple(params.items())))
        return out

    def experiment(self, point: Point) -> Experiment:
        """The validated experiment of one point."""
        return build_point(self.data, self.source, self.base_dir, point.overrides)

    def validate(self) -> list[Point]:
        """Check every point (UserError naming the file and key of the first bad one); return the points."""
        points = self.points()
        seen: set[str] = set()
        for p in points:
            if p.run_id in seen:
                raise UserError(f"the grid repeats the point {p.params}", source=self.source)
            seen.add(p.run_id)
            self.experiment(p)
        return points


def build_point(data: dict, source: str, base_dir: str, overrides: Iterable[tuple[str, Any]]) -> Experiment:
    """Apply `overrides` to a copy of `data` and validate it."""
    d = copy.deepcopy(data)
    for key, value in overrides:
        try:
            set_key(d, key, value)
        except UserError as exc:
            raise exc.within(source) from None
    return parse_experiment(d, source, base_dir)


def execute(data: dict, source: str, base_dir: str, point: Point) -> dict:
    """Run one point and return its runs.jsonl record (errors are recorded, not raised)."""
    from netkit.experiment.runner import run

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        exp = build_point(data, source, base_dir, point.overrides)
        result = run(exp, command="netkit sweep")
        rec = run_record(point.run_id, point.params, result.metrics, wall_s=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
        rec = run_record(point.run_id, point.params, error=f"{type(exc).__name__}: {exc}",
                         wall_s=time.perf_counter() - t0)
    rec["cpu_s"] = time.process_time() - c0
    return rec


def _execute_args(args: tuple) -> dict:
    return execute(*args)


def run_local(sweep: Sweep, points: list[Point], jobs: int, on_record: Callable[[dict], None]) -> None:
    """Run `points` in this process (`jobs` 1) or on a pool of `jobs` processes, in completion order."""
    tasks = [(sweep.data, sweep.source, sweep.base_dir, p) for p in points]
    if jobs <= 1:
        for t in tasks:
            on_record(_execute_args(t))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(_execute_args, t): t[3] for t in tasks}
        for fut in as_completed(futures):
            point = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker process died
                rec = run_record(point.run_id, point.params, error=f"worker failed: {exc}")
            on_record(rec)
    except BaseException:
        # a signal or an error: stop the workers now rather than wait for their runs to finish
        with interrupts.deferred():
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def run_ray(sweep: Sweep, points: list[Point], jobs: int, address: str | None,
            on_record: Callable[[dict], None]) -> None:
    """Run `points` as Ray tasks on the cluster at `address`, or on a local Ray started with `jobs` CPUs."""
    try:
        import ray
    except ImportError:
        raise UserError("needs Ray: pip install 'netkit[cluster]'", source="--engine ray") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
            ray.init(num_cpus=max(1, jobs), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env} if env else None)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(execute)
        data = ray.put(sweep.data)
        refs = {remote.remote(data, sweep.source, sweep.base_dir, p): p for p in points}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            point = refs[done[0]]
            try:
                rec = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - the task or its worker failed
                rec = run_record(point.run_id, point.params, error=f"ray task failed: {exc}")
            on_record(rec)
    finally:
        if started:
            ray.shutdown()


def run_sweep(sweep: Sweep, out: str | os.PathLike, jobs: int = 1, engine: str = "local",
              ray_address: str | None = None, resume: bool = False, force: bool = False, command: str = "netkit sweep",
              progress: bool = True, after: Callable[[Path, dict], None] | None = None,
              keep_partial: bool = True) -> dict:
    """Validate every point, then run what is missing into `out`; returns summary.json's content.

    `after(work_dir, summary)` may add plots or files before the folder is put in place. With
    `keep_partial=False` (a front end without --resume) unfinished work is removed, not kept for --resume.
    """
    if engine not in ENGINES:
        raise UserError(f"expected one of {', '.join(ENGINES)}, got {engine!r}", source="--engine")
    if jobs < 1:
        raise UserError(f"expected an integer >= 1, got {jobs}", source="--jobs")
    points = sweep.validate()
    base = sweep.experiment(points[0])
    with resumable_output(out, resume=resume, force=force, keep=keep_partial) as work:
        with RunLog(work / "runs.jsonl") as log:
            ids = {p.run_id for p in points}
            todo = [p for p in points if p.run_id not in log.runs]
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="run", desc="sweep",
                           file=sys.stderr, dynamic_ncols=True)
            failed = 0

            def on_record(rec: dict) -> None:
                nonlocal failed
                log.append(rec)
                if rec["status"] != "ok":
                    failed += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(failed=failed)

            try:
                if engine == "ray":
                    run_ray(sweep, todo, jobs, ray_address, on_record)
                else:
                    run_local(sweep, todo, jobs, on_record)
            finally:
                if bar is not None:
                    bar.close()
            runs = [r for rid, r in log.runs.items() if rid in ids]
        summary = summarize_runs(runs, sweep.grid_keys)
        summary["runs"] = len(runs)
        summary["failed"] = sum(r["status"] != "ok" for r in runs)
        write_json(work / "summary.json", summary)
        write_json(work / "config.json", config_record(
            dict(base.data), command, grid=[list(a) for a in sweep.axes],
            seeds=sweep.seeds if sweep.seeds is not None else [base.seed], engine=engine, jobs=jobs))
        if after is not None:
            after(work, summary)
    return summary

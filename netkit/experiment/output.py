"""The one writer of results: folders that appear only when complete, atomic JSON, and the run record.

Every command writes the same record into its `--out` folder:

* `config.json`: the resolved experiment, the netkit version, the command line
  (and, for sweeps, the grid and seeds);
* `runs.jsonl`: one JSON object per finished run, appended as runs finish:
  `run_id`, `params` (swept keys and seed), `status` (`ok` or `error`),
  `message` (for errors), `metrics` (flat, units in the names), `wall_s` and
  (sweeps) `cpu_s`;
* `summary.json`: per grid point, the mean, p50 and p95 of every metric and the
  run count;
* Mahimahi-format link logs and PNG plots.

The folder is built in a hidden sibling and renamed into place when complete.
A sweep's sibling has a fixed name (`.NAME.partial`) and survives an
interruption, so `--resume` can finish it.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from netkit.files import atomic_write_text, check_writable, follow_umask, staging_dir
from netkit import interrupts

RECORD_FILES = ("config.json", "runs.jsonl", "summary.json")


class OutputDirError(ValueError):
    """The `--out` folder cannot be used (exists and is not a netkit result, or is a file)."""


@contextmanager
def staged_output(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out`, on error it is removed.

    An existing `out` is replaced only with `force` or when it is an earlier netkit
    result (it holds summary.json or results.json), so unrelated files are never lost.
    """
    out = output_path(out)
    _check_out(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = None
    try:
        with interrupts.deferred():  # a signal never leaves the stage unremoved, nor a swap half done
            stage = staging_dir(out.parent, f".{out.name}.partial-")
        yield stage
        with interrupts.deferred():
            _swap_into_place(stage, out)
    except BaseException:
        with interrupts.deferred():
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_into_place(stage: Path, out: Path) -> None:
    """Rename the finished `stage` folder to `out`, replacing an earlier `out` only once the new one is in place."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_output(out: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an unusable `--out` before a command starts any work (`staged_output` checks again at the end)."""
    path = output_path(out)
    _check_out(path, force)
    check_writable(str(path), "--out", folder=True)
    return path


def output_path(out: str | os.PathLike) -> Path:
    """`--out` as an absolute path; refused when it is the working folder or one above it (`--out .`), which
    cannot be replaced by a rename (and would stage into `..partial-*`)."""
    given = str(out)
    if not given.strip():
        raise OutputDirError("--out: expected a folder name, got an empty string")
    path = Path(os.path.abspath(given))
    cwd = Path.cwd()
    if path == cwd or path in cwd.parents:
        raise OutputDirError(f"--out {given}: is the working folder or above it; name a new folder (e.g. --out results)")
    return path


def strict_json(obj: object, **dumps_kwargs: Any) -> str:
    """JSON text that is strict JSON: NaN and infinities (undefined metrics) become null, numpy values plain."""
    return json.dumps(_finite(obj), allow_nan=False, default=_jsonable, **dumps_kwargs)


def _finite(x: object) -> object:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(val) for val in x]
    if isinstance(x, np.generic):
        return _finite(x.item())
    if isinstance(x, np.ndarray):
        return _finite(x.tolist())
    return x


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write strict JSON (`strict_json`) to a temporary name, then rename it into place."""
    atomic_write_text(path, strict_json(obj, indent=2, sort_keys=True) + "\n")


def _jsonable(x: object) -> object:
    if hasattr(x, "item"):
        return _finite(x.item())
    if hasattr(x, "tolist"):
        return _finite(x.tolist())
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def _check_out(out: Path, force: bool) -> None:
    if out.exists():
        if not out.is_dir():
            raise OutputDirError(f"--out {out}: exists and is not a folder")
        is_result = any((out / f).exists() for f in ("summary.json", "results.json", "runs.jsonl", "config.json"))
        if any(out.iterdir()) and not (force or is_result):
            raise OutputDirError(f"--out {out}: folder exists and is not an earlier netkit result; pass --force or pick another")


def partial_dir(out: str | os.PathLike) -> Path:
    """Where an unfinished sweep into `out` keeps its work (`.NAME.partial` beside it)."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


@contextmanager
def resumable_output(out: str | os.PathLike, resume: bool = False, force: bool = False,
                     keep: bool = True) -> Iterator[Path]:
    """Like `staged_output`, but the work folder keeps its name and survives a failure or an interruption.

    With `resume`, an earlier unfinished work folder (or a finished `out`) is continued; without it, any earlier
    unfinished work is discarded. On success the work folder replaces `out`. With `keep=False` (a command that
    cannot resume) the work folder is removed on a failure or an interruption instead.
    """
    out = output_path(out)
    _check_out(out, force or resume)
    work = partial_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not resume and work.exists():
        shutil.rmtree(work)
    if resume and not work.exists() and out.exists() and (out / "runs.jsonl").exists():
        shutil.copytree(out, work)
    work.mkdir(exist_ok=True)
    follow_umask(work, folder=True)
    try:
        yield work
        with interrupts.deferred():
            _swap_into_place(work, out)
    except BaseException:
        if not keep:
            with interrupts.deferred():
                shutil.rmtree(work, ignore_errors=True)
        raise


def config_record(experiment: dict, command: str, **extra: Any) -> dict:
    """The content of config.json."""
    from netkit import __version__

    return {"experiment": experiment, "netkit_version": __version__, "command": command, **extra}


class RunLog:
    """`runs.jsonl`, append-only: one line per finished run, flushed and synced as it is written.

    Opening an existing log (to resume) reads the runs already recorded and drops a
    last line cut short by an interruption.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.runs: dict[str, dict] = {}
        if self.path.exists():
            raw = self.path.read_bytes()
            keep = raw[: raw.rfind(b"\n") + 1]
            if len(keep) != len(raw):
                with open(self.path, "r+b") as f:
                    f.truncate(len(keep))
            for line in keep.decode().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.runs[rec["run_id"]] = rec
        self._f = open(self.path, "a")

    def append(self, record: dict) -> None:
        """Write one finished run."""
        self._f.write(strict_json(record, sort_keys=True) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.runs[record["run_id"]] = record

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_record(run_id: str, params: dict, metrics: dict | None = None, error: str | None = None,
               wall_s: float | None = None) -> dict:
    """One line of runs.jsonl."""
    rec: dict[str, Any] = {"run_id": run_id, "params": params, "status": "error" if error else "ok",
                           "metrics": metrics or {}}
    if error:
        rec["message"] = error
    if wall_s is not None:
        rec["wall_s"] = wall_s
    return rec


def summarize_runs(runs: Iterable[dict], grid_keys: list[str]) -> dict:
    """summary.json: per grid point (the swept keys, seeds pooled) mean, p50 and p95 of each metric, and counts."""
    groups: dict[str, dict] = {}
    for rec in runs:
        point = {k: rec["params"].get(k) for k in grid_keys}
        key = json.dumps(point, sort_keys=True)
        g = groups.setdefault(key, {"params": point, "runs": 0, "ok": 0, "errors": 0, "_values": {}})
        g["runs"] += 1
        if rec["status"] != "ok":
            g["errors"] += 1
            continue
        g["ok"] += 1
        for m, val in rec["metrics"].items():
            if isinstance(val, (int, float)) and not isinstance(val, bool):
                g["_values"].setdefault(m, []).append(float(val))
    points = []
    for g in groups.values():
        stats = {}
        for m, vals in sorted(g.pop("_values").items()):
            arr = np.asarray(vals, dtype=float)
            arr = arr[np.isfinite(arr)]
            stats[m] = ({"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)),
                         "p95": float(np.percentile(arr, 95)), "n": int(len(arr))} if len(arr) else
                        {"mean": None, "p50": None, "p95": None, "n": 0})
        g["metrics"] = stats
        points.append(g)
    return {"grid": grid_keys, "points": points}


def write_record(folder: str | os.PathLike, experiment: dict, command: str, records: list[dict],
                 grid_keys: list[str], **extra: Any) -> dict:
    """Write config.json, runs.jsonl and summary.json of finished `records` into `folder`; returns the summary."""
    folder = Path(folder)
    with RunLog(folder / "runs.jsonl") as log:
        for rec in records:
            log.append(rec)
    summary = summarize_runs(records, grid_keys)
    summary["runs"], summary["failed"] = len(records), sum(r["status"] != "ok" for r in records)
    write_json(folder / "summary.json", summary)
    write_json(folder / "config.json", config_record(experiment, command, **extra))
    return summary

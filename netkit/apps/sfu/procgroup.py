"""A group of participant processes that start together, wait for the links' clock, and report JSON.

Both live runners (the scallop/software meetings in `live.py` and the Janus baseline in `janus.py`)
run their participants as child processes of one module each: every child reads its spec file,
prints ``ready``, waits for ``epoch NS`` on stdin (the links' shared clock), runs to the plan's end and
writes its results to an output JSON file. This class owns that life cycle and the cleanup.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


class ProcessGroup:
    """Child processes of `module`, one per spec: started, released on one clock, collected, killed on cleanup."""

    def __init__(self, module: str, specs: list[Any], tmp: str | Path, label: str, stem: str,
                 log_dir: str | Path | None = None, finish_timeout_s: float = 30.0):
        self.module, self.specs, self.tmp = module, specs, Path(tmp)
        self.label, self.stem = label, stem
        self.log_dir = Path(log_dir) if log_dir else None
        self.finish_timeout_s = finish_timeout_s
        self.procs: list[subprocess.Popen] = []
        self.outs: list[Path] = []
        self._token: int | None = None

    def start(self) -> None:
        """Start every process and wait until each says it is ready."""
        from netkit.emu.resources import registry

        self._token = registry().add(f"{self.label} processes", self._kill)
        for i, spec in enumerate(self.specs):
            sp, out = self.tmp / f"{self.stem}{i}.json", self.tmp / f"{self.stem}{i}.out.json"
            sp.write_text(json.dumps(spec))
            self.outs.append(out)
            err = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                err = open(self.log_dir / f"{self.stem}{i}.log", "wb")
            self.procs.append(subprocess.Popen([sys.executable, "-m", self.module, str(sp), str(out)],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                               text=True, start_new_session=True))
            if err is not None:
                err.close()
        for p in self.procs:
            assert p.stdout is not None
            if not p.stdout.readline().startswith("ready"):
                raise OSError(f"a {self.label} process did not start (exit {p.poll()})")

    def go(self, epoch_ns: int) -> None:
        """Release every process on the links' clock."""
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(f"epoch {epoch_ns}\n")
            p.stdin.flush()

    def finish(self) -> list[Any]:
        """Wait for every process (they stop at the run's end); what each wrote, in spec order."""
        out = []
        for p, path in zip(self.procs, self.outs):
            try:
                p.wait(timeout=self.finish_timeout_s)
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(timeout=10)
            if p.returncode != 0 or not path.exists():
                raise OSError(f"a {self.label} process failed (exit {p.returncode})")
            out.append(json.loads(path.read_text()))
        return out

    def _kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def close(self) -> None:
        """Drop the cleanup entry (the processes have ended, or were killed by it)."""
        from netkit.emu.resources import registry

        if self._token is not None:
            registry().release(self._token)
            self._token = None

"""`LinkProcess`: starts the link process on two device fds, waits until it forwards, stops it, reads its stats."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

from netkit import interrupts
from netkit.emu.errors import EmuError
from netkit.net.direction import LinkPlan
from netkit.emu.names import run_prefix


class LinkProcess:
    """A child `python -m netkit.emu.linkproc` forwarding between `outer_fd` and `inner_fd`.

    With `queue_window_us`, DualPI2 queues report per-queue (L/C) statistics over
    that window of the link's clock (`stats[direction]["queues"]`).

    The child inherits the fds; `start()` closes this process's copies, so the
    devices live exactly as long as the child. The child stops when this process
    dies, even by SIGKILL: it watches its stdin pipe, which only this process
    holds, for end of file (and gets the parent-death signal when started from
    the main thread).
    """

    def __init__(self, spec: LinkPlan, outer_fd: int, inner_fd: int, tap: bool = False, realtime: bool = True,
                 epoch_ns: int | None = None, queue_window_us: tuple[int, int] | None = None,
                 defer_epoch: bool = False) -> None:
        self.spec = spec
        self.outer_fd = outer_fd
        self.inner_fd = inner_fd
        self.tap = tap
        self.realtime = realtime
        self.epoch_ns = epoch_ns
        self.defer_epoch = defer_epoch
        self.queue_window_us = queue_window_us
        self.proc: subprocess.Popen | None = None
        self.ready: dict = {}
        self.stats: dict | None = None
        self.failure: str | None = None  # set by stop() when the process had ended by itself: why, in one line
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """PID of the link process, once started."""
        return self.proc.pid if self.proc else None

    def start(self, timeout_s: float = 20.0) -> dict:
        """Spawn the process, hand it the job, and wait for its `ready` line (returned as a dict)."""
        job = {"spec": self.spec.to_dict(), "outer": self.outer_fd, "inner": self.inner_fd,
               "tap": self.tap, "realtime": self.realtime, "epoch_ns": self.epoch_ns, "defer_epoch": self.defer_epoch,
               "queue_window_us": list(self.queue_window_us) if self.queue_window_us else None}
        cmd = [sys.executable, "-m", "netkit.emu.linkproc", "--run-id", run_prefix().rstrip("-"),
               "--parent", str(os.getpid())]
        if threading.current_thread() is threading.main_thread():
            cmd.append("--pdeathsig")  # the signal follows the thread that forks, so only for the main thread
        with interrupts.deferred():  # a signal must not leave a started process unrecorded
            try:
                # one thread: numpy (the DualPI2 queue monitor imports it) would otherwise start a BLAS thread per core
                env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                # its own session: a Ctrl-C meant for a program behind the link must not stop the link
                self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             pass_fds=(self.outer_fd, self.inner_fd), env=env,
                                             start_new_session=True)
            finally:
                for fd in (self.outer_fd, self.inner_fd):
                    os.close(fd)
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()  # and keep it open: it is the child's lifeline
            line = self._readline(timeout_s)
        except BrokenPipeError:
            line = ""
        if not line.startswith("ready "):
            with interrupts.deferred():
                self._stopped = True
                self.proc.kill()
                rest, _ = self.proc.communicate()
            rest = (rest or b"").decode(errors="replace")
            why = next((json.loads(x[6:]) for x in [line, *rest.splitlines()] if x.startswith("error ")),
                       None) or exit_description(self.proc.returncode)
            raise EmuError(f"link process {self.proc.pid} failed to start: {why}")
        self.ready = json.loads(line[6:])
        return self.ready

    def set_epoch(self, epoch_ns: int) -> None:
        """Fix the clock of a link started with `defer_epoch` (µs 0 of its trace and logs is `epoch_ns`)."""
        self.proc.stdin.write(f"epoch {int(epoch_ns)}\n".encode())
        self.proc.stdin.flush()
        self.ready["epoch_ns"] = int(epoch_ns)

    def _readline(self, timeout_s: float) -> str:
        """One line of the process's output, read a byte at a time: nothing after it stays in a Python buffer
        (where `communicate()` in `stop()` would not see it)."""
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        data = b""
        while time.monotonic() < deadline and not data.endswith(b"\n"):
            interrupts.check()  # a signal during a slow start ends the wait (the caller cleans up)
            r, _, _ = select.select([fd], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
            if r:
                b = os.read(fd, 1)
                if not b:
                    break
                data += b
        return data.decode(errors="replace")

    def alive(self) -> bool:
        """Whether the link process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> dict | None:
        """Stop forwarding (SIGTERM), wait, and return the process's statistics (None if it reported none)."""
        if self.proc is None or self._stopped:
            return self.stats
        self._stopped = True
        ended_by_itself = self.proc.poll() is not None
        if not ended_by_itself:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        for line in (rest or b"").decode(errors="replace").splitlines():
            if line.startswith("stats "):
                self.stats = json.loads(line[6:])
        if ended_by_itself:
            self.failure = describe_failure(self.stats, self.proc.returncode)
        return self.stats


def exit_description(returncode: int | None) -> str:
    """`exit status N` or `killed by SIGNAME`."""
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def describe_failure(stats: dict | None, returncode: int | None) -> str:
    """One line on why a link process ended by itself: its own error, a device error, or how it exited."""
    stats = stats or {}
    errors = [stats["error"]] if stats.get("error") else []
    errors += [d["error"] for d in (stats.get("downlink") or {}, stats.get("uplink") or {}) if d.get("error")]
    return "; ".join(errors + [exit_description(returncode)])

"""`Daemon`: a long-running program in a network namespace, logging to a file, in netkit's cleanup registry.

The one life cycle of the servers netkit starts beside an emulation (a P4 switch, Janus): start it in
its own session inside a namespace (or here), its output in a log file, registered for cleanup
together with its start (exit, exception, SIGTERM, Ctrl-C); wait until a probe says it serves (if it
dies first, or the wait times out, an OSError that quotes the log's last lines); stop it with SIGTERM
to its process group, then SIGKILL if it has not gone after a grace period.

Programs with a different life cycle keep their own class: `netkit.emu.process.LinkProcess` (a stdin
lifeline and a `ready` line) and the SFU's participant groups (a `ready` line, a clock on stdin, a
results file).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Callable

from netkit import interrupts
from netkit.emu import netns
from netkit.emu.driver import DRIVER_RT_PRIORITY
from netkit.emu.resources import registry


def _realtime() -> None:
    """In the child before exec: SCHED_FIFO at the live drivers' priority (its threads inherit it); without
    the privilege nothing changes."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(DRIVER_RT_PRIORITY))
    except OSError:
        pass


class Daemon:
    """`argv` started now in namespace `ns` (None: here), stdout and stderr to `log`; `stop()` ends it.

    `name` is how messages call it ("switch", "janus"); `env` the child's environment (None: ours);
    `stdin` what it reads (None: ours); `realtime` runs it under SCHED_FIFO; `stop_timeout_s` is how
    long SIGTERM has before SIGKILL.
    """

    def __init__(self, argv: list[str], ns: str | None, log: str | Path, name: str,
                 env: dict[str, str] | None = None, stdin: int | IO | None = None, realtime: bool = False,
                 stop_timeout_s: float = 3.0) -> None:
        self.argv = list(argv)
        self.ns = ns
        self.log = Path(log)
        self.name = name
        self.stop_timeout_s = stop_timeout_s
        self._token: int | None = None
        self._logf: IO[bytes] | None = open(self.log, "wb")
        try:
            with interrupts.deferred():  # a signal must not leave a started process unregistered
                with netns.enter(ns):
                    self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=self._logf, stderr=subprocess.STDOUT,
                                                 env=env, start_new_session=True,
                                                 preexec_fn=_realtime if realtime else None)
                self._token = registry().add(f"{name} process {self.argv[0]} (pid {self.proc.pid})", self._kill)
        except BaseException:
            self._close_log()
            raise

    @property
    def pid(self) -> int:
        """The process's PID."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def wait_ready(self, probe: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.0) -> None:
        """Call `probe()` until it returns True (`interval_s` apart); OSError with the log's tail if the process
        exits first or `timeout_s` passes. An OSError from the probe means "not yet" (its text is quoted on
        timeout). `what` completes "NAME did not ... within T s", e.g. "answer on URL"."""
        deadline = time.monotonic() + timeout_s
        last: str | None = None
        while time.monotonic() < deadline:
            interrupts.check()
            if self.proc.poll() is not None:
                raise OSError(f"{self.name} exited with {self.proc.returncode} at start: {self.log_tail()}")
            try:
                if probe():
                    return
            except OSError as exc:
                last = str(exc)
            if interval_s:
                time.sleep(interval_s)
        why = f" ({last})" if last else ""
        raise OSError(f"{self.name} did not {what} within {timeout_s:.0f} s{why}: {self.log_tail()}")

    def log_tail(self, lines: int = 3) -> str:
        """The last `lines` lines of the log, on one line."""
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (from /proc; 0 once it is gone)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._logf is not None:
            self._logf.close()
            self._logf = None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and drop its cleanup entry; idempotent."""
        if self._token is not None:
            token, self._token = self._token, None
            registry().release(token)

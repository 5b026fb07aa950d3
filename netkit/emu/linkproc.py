"""The link process: `python -m netkit.emu.linkproc --run-id nk-PID --parent PID` with a JSON job on stdin.

The job names two inherited device fds (`outer`, `inner`), whether they are TAP
devices, the `netkit.net.LinkPlan` (both directions, seeded by component name), an optional clock epoch and whether to ask for real-time
scheduling, and optionally a `queue_window_us` [start, end] over which to report
per-queue (L/C) statistics of DualPI2 queues (`QueueMonitor`, as `netkit replay`
does). The process prints one `ready {...}` line (with the epoch it uses; with
`defer_epoch` it then waits for an `epoch NS` line on stdin, so an owner can start
several links and only then fix their common clock),
forwards until SIGTERM/SIGINT or its owner is gone, closes the Mahimahi logs and
prints one `stats {...}` line (with `error` when forwarding failed, exit status 1). An error
before forwarding is one `error "..."` line instead.

The owner keeps the stdin pipe open as a lifeline: end of file on stdin means the
owning process died, whichever of its threads started the link. With
`--pdeathsig` (owner's main thread) the kernel also sends SIGTERM at its death.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from netkit.emu.linkcore import Direction, LinkLoop, monotonic_clock
from netkit.link.chain import Chain
from netkit.link.log import LinkLog, aborted_on_failure
from netkit.net.direction import LinkPlan

if TYPE_CHECKING:
    from netkit.link.monitor import QueueMonitor

PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29
RT_PRIORITY = 20


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def _realtime() -> bool:
    """Ask for SCHED_FIFO so wake-ups are on time on a busy machine; harmless to lack."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
        return True
    except (OSError, AttributeError):
        return False


def _queue_monitors(chains: dict[str, Chain]) -> dict[str, QueueMonitor]:
    """Per-queue (L/C) recorders on the DualPI2 queues of the chains (by direction name), as the simulator's
    replay attaches them."""
    from netkit.link.monitor import QueueMonitor

    monitors = {}
    for name, chain in chains.items():
        monitor = QueueMonitor.attach(chain)
        if monitor is not None:
            monitors[name] = monitor
    return monitors


def serve(job: dict, out=sys.stdout) -> int:
    """Run the link described by `job` until signalled; report readiness and statistics on `out`."""
    plan = LinkPlan.from_dict(job["spec"])
    l2 = 14 if job.get("tap") else 0
    logs: list[LinkLog] = []
    with aborted_on_failure(logs):
        down_chain, down_logs = plan.down.build()
        logs += down_logs
        up_chain, up_logs = plan.up.build()
        logs += up_logs
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd)
        realtime = bool(job.get("realtime", True)) and _realtime()
        _prctl(PR_SET_TIMERSLACK, 1)
        signals: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _: signals.append(signum))  # the wakeup byte stops the loop
        # everything slow (numpy's import among it) happens before the epoch is taken or `ready` is written, so
        # that no set-up time comes out of the trace's time (a deferred epoch's lead is not spent on it)
        chains = {"downlink": down_chain, "uplink": up_chain}
        monitors = _queue_monitors(chains) if job.get("queue_window_us") else {}
        epoch_ns = job.get("epoch_ns") or time.monotonic_ns()
        out.write("ready " + json.dumps({"epoch_ns": epoch_ns, "realtime": realtime, "pid": os.getpid()}) + "\n")
        out.flush()
        if job.get("defer_epoch"):
            line = _read_line(sys.stdin.fileno())
            if not line.startswith("epoch "):
                for log in logs:  # by hand: a return is no failure to aborted_on_failure
                    log.abort()
                return 1  # the owner went away before fixing the clock
            epoch_ns = int(line.split()[1])
        clock = monotonic_clock(epoch_ns)
        outer, inner = job["outer"], job["inner"]
        directions = [
            Direction("downlink", outer, inner, chains["downlink"], clock, l2),
            Direction("uplink", inner, outer, chains["uplink"], clock, l2),
        ]
        loop = LinkLoop(directions, clock, stop_fds=(rfd, sys.stdin.fileno()))
    failed = False
    error = None
    forwarding_from_us = clock()
    try:
        loop.run()
    except Exception as exc:  # reported to the owner in the stats line (one line), which fails the run
        failed = True
        error = f"{type(exc).__name__}: {exc}"
    except BaseException:
        failed = True
        raise
    finally:
        for log in logs:
            log.abort() if failed else log.close()
        stats = {d.name: d.stats() for d in directions}
        for name, monitor in monitors.items():
            stats[name]["queues"] = monitor.summary(*job["queue_window_us"])
        stats["duration_s"] = clock() / 1e6
        stats["forwarding_from_us"] = forwarding_from_us
        reason = loop.stop_reason or ""
        if reason == f"fd {rfd} readable":
            reason = "signal " + ",".join(signal.Signals(s).name for s in signals)
        elif reason == f"fd {sys.stdin.fileno()} readable":
            reason = "owner gone (stdin closed)"
        stats["stop_reason"] = reason
        if error:
            stats["error"] = error
        times = os.times()
        stats["cpu_user_s"], stats["cpu_system_s"] = times.user, times.system
        try:
            out.write("stats " + json.dumps(stats) + "\n")
            out.flush()
        except OSError:
            pass
    return 1 if error else 0


def _read_line(fd: int) -> str:
    """One line from `fd`, read a byte at a time so nothing after it is consumed ('' at end of file)."""
    data = b""
    while not data.endswith(b"\n"):
        try:
            b = os.read(fd, 1)
        except InterruptedError:
            continue
        if not b:
            return ""
        data += b
    return data.decode()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the link process."""
    p = argparse.ArgumentParser(prog="netkit-linkproc", description=__doc__)
    p.add_argument("--run-id", required=True, help="nk-PID of the run that owns this link (for netkit clean)")
    p.add_argument("--parent", type=int, required=True, help="PID of the owning process")
    p.add_argument("--pdeathsig", action="store_true", help="also stop on the parent-death signal")
    args = p.parse_args(argv)
    if args.pdeathsig:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != args.parent:
        return 1  # the owner died before we could watch it
    line = os.read(sys.stdin.fileno(), 1 << 20).decode()
    while line and not line.endswith("\n"):
        more = os.read(sys.stdin.fileno(), 1 << 20).decode()
        if not more:
            return 1
        line += more
    if not line:
        return 1
    try:
        job = json.loads(line)
        return serve(job)
    except Exception as exc:  # a bad job or a failing element before forwarding: one line for the owner
        print("error " + json.dumps(f"{type(exc).__name__}: {exc}"), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Signals end every netkit command with 128+N and leave nothing behind; a dead link fails the run.

The main check sends SIGINT, SIGTERM and SIGHUP at 30 seeded random moments (0-2 s, set-up included) of
`netkit shell` and `netkit replay --mode emu` and looks for anything left: namespaces, interfaces, link
processes and the command's own process named after the run's PID, address leases, the run record,
partial output folders. Trials run a few at a time; only names carrying the trial's own PID are checked
(others run emulations on this machine at the same time).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netkit.emu import netns
from netkit.emu.names import run_prefix
from netkit.emu.testing import (leftovers, link_processes, netkit_command, popen_in, processes_with, scratch_namespace,
                                skip_reason)

REASON = skip_reason()
live = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SEED = 16
TRIALS = int(os.environ.get("NETKIT_SIGNAL_TRIALS", "30"))  # moments per signal and command
PARALLEL = 4
SPREAD_S = 2.0
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))


# -- what a run may leave -------------------------------------------------------------------------------
def _wait_gone(pid: int, outer: str | None, marker: str | None = None, out: Path | None = None,
               timeout_s: float = 3.0) -> list[str]:
    """Leftovers, after giving processes that were just killed a moment to be reaped."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = leftovers(pid, outer, marker, out)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# -- the random-moment trials ---------------------------------------------------------------------------
def _moments(kind: str, sig: int) -> list[tuple[float, str | None]]:
    """(seconds, counted from): odd trials from the start (start-up and set-up), even ones from the moment the
    link process exists (set-up's end and the run), since on a loaded machine start-up alone can take 2 s."""
    rng = random.Random(f"{SEED}:{kind}:{int(sig)}")
    return [(rng.uniform(0.0, SPREAD_S), "link" if i % 2 == 0 else None) for i in range(TRIALS)]


def _command(kind: str, trace: str, marker: str, out: Path) -> list[str]:
    if kind == "shell":
        return netkit_command("shell", "--trace", trace, "--delay", "5", "--", "sleep", marker)
    return netkit_command("replay", "--trace", "constant:12", "--app", "cbr:2", "--duration", "3",
                          "--mode", "emu", "--out", str(out))


def _trial(kind: str, sig: int, at_s: float, n: int, trace: str, outer: str, tmp: Path,
           after: str | None = None) -> dict:
    """Start `kind`, send `sig` `at_s` after the start (or after its first namespace appeared, `after="namespace"`,
    or its link process started, `after="link"`), and check how it ended and what it left."""
    marker = f"{60 + n}.{int(sig):02d}{n:03d}"  # a unique sleep duration: finds the command if it survived
    out = tmp / f"out-{kind}-{int(sig)}-{n}"
    proc = popen_in(outer, _command(kind, trace, marker, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    env=ENV)
    if after:
        up = ((lambda: any(x.startswith(run_prefix(proc.pid)) for x in netns.list_names())) if after == "namespace"
              else (lambda: bool(link_processes(proc.pid))))
        deadline = time.monotonic() + 30
        while not up() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002 if after == "namespace" else 0.02)
    time.sleep(at_s)
    handled = _handles_sigterm(proc.pid)
    links_up = bool(link_processes(proc.pid))
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return {"at": at_s, "sig": sig, "ok": False, "why": "still running 20 s after the signal"}
    took = time.monotonic() - sent
    left = _wait_gone(proc.pid, outer, marker if kind == "shell" else None, out)
    if kind == "replay" and proc.returncode != 0 and out.exists():
        left.append(f"output folder {out.name} of an interrupted run")
    rc = proc.returncode
    err = err.decode(errors="replace")
    if handled:
        # netkit's handler was in place: the conventional status, one line, no traceback
        ok = rc == 128 + sig and "Traceback" not in err and len(_shown_lines(err)) <= 1
    else:
        # sent while Python was still starting, before netkit's first line ran: the default action ends it
        # (killed by SIGTERM/SIGHUP; for SIGINT Python's own KeyboardInterrupt) - with nothing to clean up
        ok = rc in (128 + sig, -sig) or (sig == signal.SIGINT and err.rstrip().endswith("KeyboardInterrupt"))
    ok = ok and not left
    why = "" if ok else f"exit {rc}, left {left}, stderr {err[-400:]!r}"
    return {"at": at_s, "sig": sig, "ok": ok, "why": why, "rc": rc, "took": took, "early": not handled,
            "links_up": links_up}


def _shown_lines(err: str) -> list[str]:
    """The lines a terminal keeps of `err`: a progress bar's `\r` redraws and its final erase leave nothing."""
    return [shown for line in err.split("\n") if (shown := line.rsplit("\r", 1)[-1].strip())]


def _handles_sigterm(pid: int) -> bool:
    """Whether process `pid` catches SIGTERM (netkit installs its handler for all three signals at once)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False


@pytest.mark.timeout(240)
@pytest.mark.emu
@live
@pytest.mark.parametrize("kind", ["shell", "replay"])
def test_signals_at_random_moments_leave_nothing(kind, trace, tmp_path):
    jobs = [(sig, at, n) for sig in SIGNALS for n, at in enumerate(_moments(kind, sig))]
    with scratch_namespace() as outer, ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda j: _trial(kind, j[0], j[1][0], j[2], trace, outer, tmp_path, after=j[1][1]),
                                jobs))
    bad = [r for r in results if not r["ok"]]
    by_sig = {signal.Signals(s).name: sum(r["ok"] for r in results if r["sig"] == s) for s in SIGNALS}
    early = [r for r in results if r.get("early")]
    slowest = max((r.get("took", 0) for r in results), default=0)
    print(f"\n{kind}: {len(results) - len(bad)}/{len(results)} trials clean ({by_sig}); {len(early)} signals came "
          f"while Python was starting, before netkit's first line (latest at {max((r['at'] for r in early), default=0):.2f} s); "
          f"{sum(r.get('links_up', False) for r in results)} with the link up; "
          f"slowest exit {slowest:.1f} s after the signal")
    for r in bad:
        print(f"  FAILED {signal.Signals(r['sig']).name} at {r['at']:.3f} s: {r['why']}")
    assert not bad
    # the spread covers start-up, set-up and run: most signals must have met netkit's own handler
    assert len(early) <= 0.4 * len(results)


# -- the defects of issue 16, one test each ---------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.emu
@live
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_during_shell_setup_leaves_no_namespace(sig, trace):
    """Issue 16: SIGTERM 0.6-0.95 s after start left `nk-PID-s1` 3 times in 70 (and once was swallowed). The
    namespace was created but not yet registered for cleanup: here half the signals come 0-30 ms after the
    namespace appeared, half 0.6-0.95 s after the start."""
    rng = random.Random(f"setup:{int(sig)}")
    plan = [(rng.uniform(0.0, 0.03), True) for _ in range(10)] + [(rng.uniform(0.6, 0.95), False) for _ in range(6)]
    with scratch_namespace() as outer, ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda j: _trial("shell", sig, j[1][0], 500 + j[0], trace, outer, Path("/tmp"),
                                                 after="namespace" if j[1][1] else None), enumerate(plan)))
    bad = [r for r in results if not r["ok"] or r["rc"] == 0]
    assert not bad, bad


@pytest.mark.timeout(120)
@pytest.mark.emu
@live
@pytest.mark.parametrize("kind", ["shell", "replay"])
def test_more_signals_during_cleanup_do_not_cut_it_short(kind, trace, tmp_path):
    """The first SIGTERM starts the cleanup; SIGINT, SIGHUP and SIGTERM keep coming every 20 ms meanwhile."""
    out = tmp_path / "out"
    with scratch_namespace() as outer:
        proc = popen_in(outer, _command(kind, trace, "58.321", out), stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, env=ENV)
        _wait_for_link(proc.pid, 40)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        for i in range(100):
            if proc.poll() is not None:
                break
            time.sleep(0.02)
            try:
                proc.send_signal(SIGNALS[i % 3])
            except ProcessLookupError:
                break
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 143, err
        assert "Traceback" not in err.decode()
        assert _wait_gone(proc.pid, outer, "58.321" if kind == "shell" else None, out) == []
        assert not out.exists()


def _script(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=30, env=ENV)


def test_a_signal_lost_inside_an_at_fork_hook_still_ends_the_run():
    """Issue 16: SystemExit raised by the old handler inside logging's at-fork hook was only printed ("Exception
    ignored in <function _releaseLock>") and the run went on to exit 0. Here the signal arrives inside such a
    hook, once where netkit forks (inside a critical section, so the handler only records it: nothing is
    lost, nothing printed) and once outside one (the exception is lost, not printed: the next wait raises it
    again)."""
    for critical in (True, False):
        res = _script(_AT_FORK_SCRIPT.replace("CRITICAL", str(critical)))
        assert res.returncode == 143, res
        assert "carried on" not in res.stdout
        assert res.stderr == "netkit: interrupted by SIGTERM\n", res.stderr


_AT_FORK_SCRIPT = """
        import os, signal, sys, time
        from netkit import interrupts
        from netkit.cli import main
        def hook():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, inside the hook, where an exception is only printed
        os.register_at_fork(after_in_parent=hook)
        def cmd(args):
            if CRITICAL:
                with interrupts.deferred():
                    pid = os.fork()  # as pyroute2 does to create a namespace
            else:
                pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            for _ in range(50):
                interrupts.check()
                time.sleep(0.02)
            print("carried on")
            return 0
        import argparse
        import netkit.cli as cli
        def build():
            p = argparse.ArgumentParser(); p.set_defaults(func=cmd, cmd="x"); return p
        cli.build_parser = build
        sys.exit(main([]))
"""


def test_a_second_signal_does_not_cut_cleanup_short():
    res = _script("""
        import os, signal, sys, time
        from netkit import interrupts
        from netkit.cli import main
        import argparse, netkit.cli as cli
        done = []
        def cmd(args):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
            finally:
                with interrupts.deferred():
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.1)
                    done.append("step 1")
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.1)
                done.append("step 2")  # after the first signal, later ones are only recorded
            return 0
        def build():
            p = argparse.ArgumentParser(); p.set_defaults(func=cmd, cmd="x"); return p
        cli.build_parser = build
        status = main([])
        print(done)
        sys.exit(status)
    """)
    assert res.returncode == 143, res
    assert "['step 1', 'step 2']" in res.stdout


def test_a_signal_inside_a_critical_section_is_raised_when_it_ends():
    res = _script("""
        import os, signal, sys, time
        from netkit import interrupts
        interrupts.install()
        steps = []
        try:
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.1)
                steps.append("created")
                steps.append("registered")
            steps.append("after")
        except interrupts.Interrupted as exc:
            print(steps, exc.status)
    """)
    assert "['created', 'registered'] 129" in res.stdout, res


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_in_a_simulator_replay_leaves_no_partial_output(sig, tmp_path):
    """Issue 16: `.OUT.partial-*` stayed after SIGTERM or SIGHUP in a simulator replay."""
    out = tmp_path / "res"
    proc = subprocess.Popen(netkit_command("replay", "--trace", "constant:50", "--app", "bulk", "--duration", "600",
                                           "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=ENV)
    _signal_once_staged(proc, out, sig)
    assert proc.wait(timeout=30) == 128 + sig, proc.stderr.read()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_in_tokenstream_bench_leaves_no_partial_output(sig, tmp_path):
    """Issue 16: `.OUT.partial-*` stayed after SIGTERM or SIGHUP in `tokenstream bench`."""
    out = tmp_path / "bench"
    proc = subprocess.Popen(netkit_command("tokenstream", "bench", "--tokens", "5000", "--seeds", "50",
                                           "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=ENV)
    _signal_once_staged(proc, out, sig)
    assert proc.wait(timeout=60) == 128 + sig, proc.stderr.read()
    assert list(tmp_path.iterdir()) == []


def _signal_once_staged(proc: subprocess.Popen, out: Path, sig: int) -> None:
    """Send `sig` once the command's staged (or sweep work) output folder exists (so it is mid-run)."""
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(f".{out.name}.partial*")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no staged output folder appeared"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)


def test_l4s_failures_leave_no_temporary_or_partial_folders(tmp_path):
    """Issue 16: `/tmp/netkit-l4s-*` stayed after l4s failures."""
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("netkit-l4s-*"))
    out = tmp_path / "l4s"
    for bad in (["--queue", "nosuchqueue"], ["--trace", str(tmp_path / "missing.trace")]):
        res = subprocess.run(netkit_command("l4s", "--duration", "2", "--out", str(out), *bad), capture_output=True,
                             text=True, timeout=60, env=ENV)
        assert res.returncode == 2, res
        assert "Traceback" not in res.stderr
    proc = subprocess.Popen(netkit_command("l4s", "--duration", "300", "--out", str(out)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _signal_once_staged(proc, out, signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert list(tmp_path.iterdir()) == []
    assert set(Path(tempfile.gettempdir()).glob("netkit-l4s-*")) == before


# -- a dead link is a failed run ------------------------------------------------------------------------
def _wait_for_link(pid: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        procs = link_processes(pid)
        if procs:
            return procs[0]
        time.sleep(0.05)
    raise AssertionError("no link process came up")



@pytest.mark.timeout(60)
@pytest.mark.emu
@live
def test_shell_fails_when_its_link_process_dies(trace):
    with scratch_namespace() as outer:
        proc = popen_in(outer, netkit_command("shell", "--trace", trace, "--", "sleep", "59.123"),
                        stderr=subprocess.PIPE, text=True, env=ENV)
        link = _wait_for_link(proc.pid)
        deadline = time.monotonic() + 20
        while not processes_with("59.123"):  # the command runs: the link is up
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.kill(link, signal.SIGKILL)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "link process stopped" in lines[0] and "SIGKILL" in lines[0], err
        assert _wait_gone(proc.pid, outer, "59.123") == []


@pytest.mark.timeout(60)
@pytest.mark.emu
@live
def test_shell_fails_when_its_link_process_crashes():
    """Issue 16: `netkit shell --delay 1e15 -- CMD`: the link process crashed (OverflowError), CMD ran on with no
    link and the shell exited 0. (Once such values are refused up front, the shell exits 2 before CMD runs.)"""
    with scratch_namespace() as outer:
        proc = popen_in(outer, netkit_command("shell", "--delay", "1e15", "--", "sh", "-c",
                                              "sleep 5; echo CMD-FINISHED"),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode != 0
        assert "CMD-FINISHED" not in out
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        if "link process" in err:
            assert "OverflowError" in lines[0], err
        assert _wait_gone(proc.pid, outer) == []


@pytest.mark.timeout(60)
@pytest.mark.emu
@live
def test_netkit_link_fails_when_its_link_process_dies(tmp_path):
    with scratch_namespace() as a, scratch_namespace() as b:
        proc = subprocess.Popen(netkit_command("link", "--outer", a, "--inner", b, "--delay", "1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        assert "Ctrl-C to stop" in proc.stdout.readline()
        os.kill(_wait_for_link(proc.pid), signal.SIGKILL)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2 and "SIGKILL" in err and len(err.strip().splitlines()) == 1, err
        assert _wait_gone(proc.pid, a) == [] and _wait_gone(proc.pid, b) == []


@pytest.mark.timeout(60)
@pytest.mark.emu
@live
def test_netkit_link_ends_with_the_signals_status(tmp_path):
    with scratch_namespace() as a, scratch_namespace() as b:
        for sig in SIGNALS:
            proc = subprocess.Popen(netkit_command("link", "--outer", a, "--inner", b, "--delay", "1", "--stats",
                                                   str(tmp_path / "s.json")),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            assert "Ctrl-C to stop" in proc.stdout.readline()
            proc.send_signal(sig)
            assert proc.wait(timeout=15) == 128 + sig
            assert (tmp_path / "s.json").exists()
            assert _wait_gone(proc.pid, a) == [] and _wait_gone(proc.pid, b) == []


@pytest.mark.timeout(90)
@pytest.mark.emu
@live
def test_live_replay_fails_when_a_link_process_dies(tmp_path):
    out = tmp_path / "live"
    proc = subprocess.Popen(netkit_command("replay", "--trace", "constant:12", "--app", "cbr:2", "--duration", "20",
                                           "--mode", "emu", "--out", str(out)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    link = _wait_for_link(proc.pid, 40)
    time.sleep(1.0)
    os.kill(link, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert "link process stopped" in err and "SIGKILL" in err, err
    assert list(tmp_path.iterdir()) == []
    assert _wait_gone(proc.pid, None) == []


# -- --stats counts the kernel's drops --------------------------------------------------------------------
def test_snmp_udp_parser_and_drop_attribution():
    from netkit.emu import kstats

    text = ("Ip: Forwarding DefaultTTL\nIp: 1 64\n"
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n"
            "Udp: 10 2 7 30 5 1 0 0 0\n"
            "UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n")
    udp = kstats.parse_snmp_udp(text)
    assert udp["RcvbufErrors"] == 5 and udp["SndbufErrors"] == 1 and udp["InErrors"] == 7
    assert kstats.parse_snmp_udp("Ip: a\nIp: 1\n") == {}
    drops = kstats.kernel_drops({"tx_dropped": 3, "rx_dropped": 4}, {"tx_dropped": 6, "rx_dropped": 8},
                                {"RcvbufErrors": 5, "SndbufErrors": 1}, None)
    assert drops["downlink"] == {"before_link_tx_dropped": 3, "after_link_rx_dropped": 8, "udp_rcvbuf_errors": 5}
    assert drops["uplink"] == {"before_link_tx_dropped": 6, "udp_sndbuf_errors": 1, "after_link_rx_dropped": 4}


@pytest.mark.timeout(60)
@pytest.mark.emu
@live
def test_shell_stats_count_kernel_drops_of_an_overrun_receiver(tmp_path):
    """Issue 16: `--stats` said `dropped: 0` while the kernel dropped much of 1.2 Gbit/s offered. Here far more
    is offered to a socket inside the shell than its 16 KiB buffer holds (it never reads): the link delivers
    everything, the kernel drops most of it, and --stats says so."""
    stats_path = tmp_path / "stats.json"
    receiver = ("import os, socket, sys, time\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n"
                "s.bind(('0.0.0.0', 5999))\n"
                "print(os.environ['NETKIT_ADDR'], flush=True)\n"
                "time.sleep(3)\n")
    with scratch_namespace() as outer:
        proc = popen_in(outer, netkit_command("shell", "--stats", str(stats_path), "--", sys.executable, "-c",
                                              receiver), stdout=subprocess.PIPE, text=True, env=ENV)
        addr = proc.stdout.readline().strip()
        import socket

        sent = 0
        with netns.enter(outer):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(3000):
            try:
                s.sendto(b"x" * 1200, (addr, 5999))
                sent += 1
            except OSError:
                pass
        s.close()
        assert proc.wait(timeout=20) == 0
    import json

    down = json.loads(stats_path.read_text())["downlink"]
    print(f"\nsent {sent}, link in {down['packets_in']} out {down['packets_out']} dropped {down['dropped']}, "
          f"kernel {down['kernel']} (kernel_dropped {down['kernel_dropped']})")
    assert down["dropped"] == 0  # the link itself (no queue limit) dropped nothing ...
    assert down["kernel"]["udp_rcvbuf_errors"] > sent / 2  # ... the receiver's buffer overflowed
    assert down["kernel_dropped"] >= down["kernel"]["udp_rcvbuf_errors"]


@pytest.mark.emu
@live
def test_shell_stats_to_a_bad_path_is_refused_before_the_command_runs(tmp_path):
    """Issue 16: `shell --stats` to a bad path was checked only after CMD ran (its status and the stats lost)."""
    marker = tmp_path / "ran"
    res = subprocess.run(netkit_command("shell", "--stats", str(tmp_path / "no" / "such" / "dir.json"), "--",
                                        "touch", str(marker)), capture_output=True, text=True, timeout=30, env=ENV)
    assert res.returncode == 2
    assert not marker.exists()
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--stats" in lines[0], res.stderr


def test_interrupted_is_a_keyboard_interrupt_with_the_conventional_status():
    from netkit import interrupts

    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        exc = interrupts.Interrupted(sig)
        assert isinstance(exc, KeyboardInterrupt) and exc.status == status


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_coroutine_abandoned_by_an_interruption_adds_no_warning(interrupted):
    # `run(main())` hit between making the coroutine and starting it: the unwinding drops it unstarted
    code = ("import gc, sys\nfrom netkit import interrupts\nasync def main(): pass\ncoro = main()\n"
            + ("interrupts.Interrupted(15)\n" if interrupted else "") + "del coro\ngc.collect()\n")
    res = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True,
                         timeout=60, env=ENV)
    assert res.returncode == 0
    assert ("was never awaited" in res.stderr) is not interrupted, res.stderr


def test_an_interruption_python_cannot_raise_is_rearmed_not_printed():
    # a signal landing in a weakref callback or __del__ (the import system's module locks): Python can only print
    # the exception as "Exception ignored"; instead it stays recorded and the next signal raises again
    code = ("import gc, os, signal, time\nfrom netkit import interrupts\ninterrupts.install()\n"
            "class Lock:\n    def __del__(self): interrupts._handler(signal.SIGTERM, None)\n"
            "lock = Lock()\ndel lock\ngc.collect()\nprint('recorded', interrupts.status())\n"
            "try:\n    os.kill(os.getpid(), signal.SIGHUP)\n    time.sleep(5)\n"
            "except interrupts.Interrupted as exc:\n    print('raised', exc.status)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV)
    assert res.returncode == 0, res.stderr
    assert "Exception ignored" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.split("\n")[:2] == ["recorded 143", "raised 129"], res.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_module_entry_point_ends_with_the_signal_status_and_no_partial_output(sig, tmp_path):
    """`python -m netkit.experiment.l4s` (its own entry point, not `netkit`) ends like every netkit command."""
    out = tmp_path / "l4s"
    proc = subprocess.Popen([sys.executable, "-m", "netkit.experiment.l4s", "--duration", "600", "--skip", "0",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _signal_once_staged(proc, out, sig)
    assert proc.wait(timeout=60) == 128 + sig, proc.stderr.read()
    assert list(tmp_path.iterdir()) == []

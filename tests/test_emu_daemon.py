"""`netkit.emu.daemon.Daemon`: started (in a namespace), registered for cleanup, stopped, early death and timeouts
reported with the log's tail, and killed by the registry on an exception or Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from netkit.emu.daemon import Daemon
from netkit.emu.netns import process_alive
from netkit.emu.resources import registry
from netkit.emu.testing import scratch_namespace, skip_reason

PY = sys.executable


def _wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_daemon_is_registered_and_stop_ends_it(tmp_path):
    d = Daemon(["sleep", "60"], None, tmp_path / "sleep.log", "sleeper")
    try:
        assert d.alive() and process_alive(d.pid)
        assert any(f"sleeper process sleep (pid {d.pid})" == w for w in registry().describe())
    finally:
        d.stop()
    assert not d.alive() and not process_alive(d.pid)
    assert not any(str(d.pid) in w for w in registry().describe())
    d.stop()                                           # idempotent


@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_a_daemon_runs_in_the_namespace_it_is_given(tmp_path):
    with scratch_namespace("dm") as ns:
        d = Daemon(["sleep", "60"], ns, tmp_path / "ns.log", "sleeper")
        try:
            assert os.stat(f"/proc/{d.pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
            assert os.stat(f"/proc/{d.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
        finally:
            d.stop()
        assert not process_alive(d.pid)


def test_dying_before_ready_raises_with_the_log_tail(tmp_path):
    d = Daemon([PY, "-c", "import sys; print('first'); print('cannot bind port 99', flush=True); sys.exit(3)"],
               None, tmp_path / "die.log", "server")
    try:
        with pytest.raises(OSError, match=r"server exited with 3 at start: first \| cannot bind port 99"):
            d.wait_ready(lambda: False, 10.0, "answer")
    finally:
        d.stop()


def test_a_timeout_names_what_it_waited_for_and_the_probe_s_last_reason(tmp_path):
    d = Daemon([PY, "-c", "print('listening soon', flush=True); import time; time.sleep(60)"], None,
               tmp_path / "slow.log", "server")

    def probe() -> bool:
        raise OSError("connection refused")
    try:
        with pytest.raises(OSError, match=r"server did not answer on :1 within 1 s \(connection refused\): "
                                          r"listening soon"):
            d.wait_ready(probe, 1.0, "answer on :1", interval_s=0.05)
        assert d.alive()                               # a timeout reports; stopping is the caller's choice
    finally:
        d.stop()
    assert not process_alive(d.pid)


def test_wait_ready_returns_once_the_probe_says_so(tmp_path):
    flag = tmp_path / "up"
    d = Daemon([PY, "-c", f"import time, pathlib; time.sleep(0.3); pathlib.Path({str(flag)!r}).touch(); "
                          "time.sleep(60)"], None, tmp_path / "up.log", "server")
    try:
        d.wait_ready(flag.exists, 10.0, "create its flag", interval_s=0.02)
        assert flag.exists() and d.alive()
    finally:
        d.stop()


def test_stop_kills_a_child_that_ignores_sigterm_and_its_process_group(tmp_path):
    pid_file = tmp_path / "grandchild"
    script = textwrap.dedent(f"""
        import signal, subprocess, time, pathlib
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "60"])
        pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))
        time.sleep(60)
    """)
    d = Daemon([PY, "-c", script], None, tmp_path / "stubborn.log", "stubborn", stop_timeout_s=0.5)
    d.wait_ready(lambda: pid_file.exists() and pid_file.read_text() != "", 10.0, "start its child", interval_s=0.02)
    grandchild = int(pid_file.read_text())
    t0 = time.monotonic()
    d.stop()
    assert time.monotonic() - t0 < 5
    assert d.proc.returncode == -signal.SIGKILL
    assert _wait_gone(grandchild), "the daemon's own child survived stop()"


def test_a_missing_program_raises_and_registers_nothing(tmp_path):
    before = len(registry())
    with pytest.raises(OSError):
        Daemon(["/nonexistent/netkit-daemon"], None, tmp_path / "missing.log", "ghost")
    assert len(registry()) == before


_OWNER = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)   # as from a terminal (a background job inherits SIGINT ignored)
from netkit.emu.daemon import Daemon
from netkit.emu.netns import process_alive
d = Daemon(["sleep", "60"], None, sys.argv[1], "sleeper")
print(d.pid, flush=True)
if sys.argv[2] == "raise":
    raise RuntimeError("the experiment failed")
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["raise", "sigint", "sigterm"])
def test_an_exception_or_a_signal_in_the_owner_kills_the_daemon(tmp_path, how):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    owner = subprocess.Popen([PY, "-c", _OWNER, str(tmp_path / "owner.log"), how], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    assert owner.stdout is not None
    pid = int(owner.stdout.readline())
    if how != "raise":
        assert process_alive(pid)
        owner.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
    _out, err = owner.communicate(timeout=30)
    assert owner.returncode != 0, err
    if how == "raise":
        assert "the experiment failed" in err
    assert _wait_gone(pid), f"the daemon (pid {pid}) outlived its owner: {err}"

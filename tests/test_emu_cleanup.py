"""Nothing leaks: a `netkit shell` stopped by SIGINT/SIGTERM removes everything itself; after SIGKILL,
`netkit clean` removes what is left. Also errors and exceptions inside the Python API.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from netkit.emu import netns
from netkit.emu.addressing import LEASE_DIR
from netkit.emu.names import run_prefix
from netkit.emu.testing import (leftovers, link_processes, netkit_command, popen_in, run_in, scratch_namespace,
                                skip_reason)

REASON = skip_reason()
pytestmark = [pytest.mark.emu, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def _start_shell(outer: str, trace: str) -> tuple[subprocess.Popen, str]:
    """Start `netkit shell -- sleep 60` in `outer`; return it once its namespace and link are up."""
    proc = popen_in(outer, netkit_command("shell", "--trace", trace, "--delay", "5", "--", "sleep", "60"))
    prefix = run_prefix(proc.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        names = [n for n in netns.list_names() if n.startswith(prefix)]
        if names and link_processes(proc.pid) and netns.pids_in(names[0]):
            return proc, names[0]
        assert proc.poll() is None, "netkit shell exited early"
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("netkit shell did not come up")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_midway_leaves_nothing(trace, sig):
    with scratch_namespace() as outer:
        proc, inner = _start_shell(outer, trace)
        sleeper = netns.pids_in(inner)
        time.sleep(0.5)
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 128 + sig
        assert leftovers(proc.pid, outer) == []
        assert not any(netns.process_alive(p) for p in sleeper)


@pytest.mark.timeout(60)
def test_sigkill_midway_then_netkit_clean_leaves_nothing(trace):
    with scratch_namespace() as outer:
        proc, inner = _start_shell(outer, trace)
        sleeper = netns.pids_in(inner)
        time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=5)
        # the link process follows its parent (parent-death signal), and its TUN devices go with it
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = leftovers(proc.pid, outer)
            if not any(x.startswith(("link process", "interface")) for x in left):
                break
            time.sleep(0.05)
        assert not any(x.startswith(("link process", "interface")) for x in left), left
        assert f"netns {inner}" in left  # a named namespace outlives a SIGKILLed owner
        res = run_in(None, netkit_command("clean"), capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        print(res.stdout)
        assert inner in res.stdout
        assert leftovers(proc.pid, outer) == []
        assert not any(netns.process_alive(p) for p in sleeper)


@pytest.mark.timeout(60)
def test_exception_inside_a_link_block_cleans_up():
    from netkit.net import LinkDirection, LinkPlan
    from netkit.emu.tunlink import TunLink

    with scratch_namespace() as a, scratch_namespace() as b:
        with pytest.raises(RuntimeError):
            with TunLink(LinkPlan.single(LinkDirection(delay_ms=1), LinkDirection(delay_ms=1)), b, a) as link:
                pid = link.process.pid
                raise RuntimeError("boom")
        assert not netns.process_alive(pid)
        with netns.enter(b):
            import socket

            assert link.inner_dev not in [n for _, n in socket.if_nameindex()]
        assert not (LEASE_DIR / str(link.subnet.index)).exists()


def test_clear_errors_for_missing_command_and_taken_name(trace):
    from netkit.emu import tun
    from netkit.emu.errors import NameTaken

    res = run_in(None, netkit_command("shell", "--", "no-such-program-xyz"), capture_output=True, text=True)
    assert res.returncode == 2 and "command not found: no-such-program-xyz" in res.stderr
    with scratch_namespace() as ns:
        with pytest.raises(NameTaken, match="already exists"):
            netns.create(ns)
        with netns.enter(ns):
            with pytest.raises(NameTaken, match="'lo' already exists"):
                tun.open_device("lo")


def test_not_root_is_a_clear_error():
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *netkit_command(
        "shell", "--", "true")], capture_output=True, text=True, cwd="/")
    if "setpriv" in res.stderr and res.returncode == 127:
        pytest.skip("setpriv not available")
    assert res.returncode == 2
    assert "needs root" in res.stderr


@pytest.mark.timeout(60)
def test_sigkilled_owner_that_started_the_link_in_a_thread_leaves_nothing_after_clean():
    """The link process watches its stdin lifeline, so it also follows an owner whose worker thread started it."""
    script = (
        "import threading, time\n"
        "from netkit.emu import netns\n"
        "from netkit.net import LinkDirection, LinkPlan\n"
        "from netkit.emu.names import new_name\n"
        "from netkit.emu.tunlink import TunLink\n"
        "a, b = new_name('a'), new_name('b')\n"
        "netns.create(a); netns.create(b)\n"
        "t = threading.Thread(target=lambda: TunLink(LinkPlan.single(LinkDirection(delay_ms=1), LinkDirection(delay_ms=1)), b, a).start())\n"
        "t.start(); t.join()\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert link_processes(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while link_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert link_processes(proc.pid) == []
    res = run_in(None, netkit_command("clean"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert [n for n in netns.list_names() if n.startswith(run_prefix(proc.pid))] == []

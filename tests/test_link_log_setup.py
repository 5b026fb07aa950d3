"""A link whose set-up fails after opening a Mahimahi log leaves no partial log file (simulator and link process)."""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from netkit.emu.linkproc import serve
from netkit.net.direction import LinkDirection, LinkPlan
from netkit.sim.build import SimNetwork
from netkit.sim.engine import Simulator
from netkit.trace.model import TraceError


def _plan(tmp_path):
    """A link whose downlink logs and builds, and whose uplink's trace file is missing (its build raises)."""
    down = LinkDirection(trace="constant:12", log=True)
    up = LinkDirection(trace=str(tmp_path / "missing.trace"), log=True)
    return LinkPlan.single(down, up, seed=1, log_dir=str(tmp_path / "logs"))


def _left(tmp_path):
    return sorted(p.name for p in tmp_path.rglob("*") if p.is_file())


def test_a_direction_that_cannot_build_opens_no_log(tmp_path):
    plan = _plan(tmp_path).up
    assert plan.log_path
    with pytest.raises(TraceError, match="no such trace file"):
        plan.build()
    assert _left(tmp_path) == []


def test_the_simulator_aborts_the_logs_it_opened_when_a_later_link_fails(tmp_path):
    plan = _plan(tmp_path)
    topology = SimpleNamespace(link_plans=lambda seed, log_dir, command: [plan])
    with pytest.raises(TraceError, match="no such trace file"):
        SimNetwork(Simulator(), topology, seed=1, log_dir=str(tmp_path / "logs"))
    assert _left(tmp_path) == []


def test_the_link_process_aborts_the_logs_it_opened_when_a_later_direction_fails(tmp_path):
    job = {"spec": _plan(tmp_path).to_dict(), "outer": -1, "inner": -1}
    with pytest.raises(TraceError, match="no such trace file"):
        serve(job)
    assert _left(tmp_path) == []


def test_the_downlink_alone_does_open_its_log(tmp_path):
    """The check above could not pass by the log never being opened."""
    _, logs = _plan(tmp_path).down.build()
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [f".{logs[0].path.name}.partial"]
    logs[0].close()
    assert _left(tmp_path) == [logs[0].path.name]


def _link_process(tmp_path):
    """A link process started with a deferred epoch on two logging directions, after its `ready` line."""
    plan = LinkPlan.single(LinkDirection(trace="constant:12", log=True), LinkDirection(trace="constant:12", log=True),
                           seed=1, log_dir=str(tmp_path / "logs"))
    job = {"spec": plan.to_dict(), "outer": -1, "inner": -1, "realtime": False, "defer_epoch": True}
    proc = subprocess.Popen([sys.executable, "-m", "netkit.emu.linkproc", "--run-id", "nk-t", "--parent",
                             str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("ready ")
    assert len(list((tmp_path / "logs").iterdir())) == 2  # both logs are open (as .partial files)
    return proc


@pytest.mark.parametrize("epoch_line", ["epoch soon\n", "epoch 0\n"])
def test_a_link_process_failing_after_ready_leaves_no_partial_log(tmp_path, epoch_line):
    """A bad epoch line fails the set-up after `ready` (an `error` line); devices that cannot be read (fd -1) fail
    the forwarding (the `stats` line's error)."""
    proc = _link_process(tmp_path)
    out, _ = proc.communicate(epoch_line, timeout=20)
    assert proc.returncode == 1
    assert out.startswith("error ") or out.startswith("stats ") and '"error": ' in out, out
    assert "ValueError" in out
    assert _left(tmp_path) == []


def test_a_link_process_whose_owner_goes_before_the_epoch_leaves_no_partial_log(tmp_path):
    proc = _link_process(tmp_path)
    proc.communicate("", timeout=20)
    assert proc.returncode == 1
    assert _left(tmp_path) == []

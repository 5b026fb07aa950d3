"""A link whose set-up fails after opening a Mahimahi log leaves no partial log file (simulator and link process)."""
from types import SimpleNamespace

import pytest

from netkit.emu.linkproc import serve
from netkit.trace.model import TraceError
from netkit.net.direction import DirectionPlan, LinkDirection, LinkPlan
from netkit.sim.build import SimNetwork
from netkit.sim.engine import Simulator


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
    chain, logs = _plan(tmp_path).down.build()
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [f".{logs[0].path.name}.partial"]
    logs[0].close()
    assert _left(tmp_path) == [logs[0].path.name]

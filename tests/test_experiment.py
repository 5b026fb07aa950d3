"""The experiment layer: example files, one record, seeds shared by sim and emu, sweeps (pool, Ray, resume),
bad files, and a light `netkit --help`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netkit.cli import main
from netkit.emu.testing import skip_reason
from netkit.experiment.spec import load_experiment, parse_experiment
from netkit.net import LinkPlan, Topology, component_seed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "emulation").glob("*.toml"))
RECORD_KEYS = {"config.json": {"experiment", "netkit_version", "command"},
               "summary.json": {"grid", "points", "runs", "failed"}}
RUN_KEYS = {"run_id", "params", "status", "metrics"}
EMU = skip_reason()
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _record(out: Path) -> list[dict]:
    for name, keys in RECORD_KEYS.items():
        assert keys <= set(json.loads((out / name).read_text())), name
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    for r in runs:
        assert RUN_KEYS <= set(r) and r["status"] == "ok", r
    return runs


SHORT = {"bulk_cbr.toml": ["duration_s=4"], "l4s.toml": ["duration_s=4", "links.down.trace=\"constant:20\""],
         "tokenstream.toml": ["apps.0.tokens=60"], "kvstream.toml": []}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_example_runs_in_sim_with_the_record(example, tmp_path):
    out = tmp_path / "out"
    sets = [a for s in SHORT.get(example.name, []) for a in ("--set", s)]
    assert main(["run", str(example), "--out", str(out), *sets]) == 0
    (run,) = _record(out)
    assert run["metrics"] and all("." in k or k in ("throughput_mbps", "capacity_mbps", "utilization",
                                                      "delay_ms_p50", "delay_ms_p95", "delay_ms_p99", "loss_rate",
                                                      "duration_s") for k in run["metrics"])
    assert any(out.glob("*link.log")) and any(out.glob("*.png"))


@pytest.mark.emu
@pytest.mark.skipif(EMU is not None, reason=EMU or "")
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_example_runs_live_with_the_same_record_keys(example, tmp_path):
    sim, emu = tmp_path / "sim", tmp_path / "emu"
    sets = [a for s in SHORT.get(example.name, []) + ["duration_s=3"] for a in ("--set", s)]
    if example.name == "l4s.toml":
        sets += ["--set", "links.down.trace=\"constant:12\""]
    assert main(["run", str(example), "--out", str(sim), *sets]) == 0
    assert main(["run", str(example), "--out", str(emu), "--mode", "emu", *sets]) == 0
    (a,), (b,) = _record(sim), _record(emu)
    assert set(a) == set(b) and set(a["metrics"]) == set(b["metrics"])
    assert json.loads((emu / "config.json").read_text())["experiment"]["mode"] == "emu"


def test_one_seed_derivation_for_sim_and_emu():
    """The link process rebuilds its chain from the job's JSON: the same seeds, so the same decisions."""
    topo = Topology.from_dict({}, {"down": {"trace": "constant:12", "loss": 0.2, "queue": "dualpi2:step_thresh=0.5"}})
    plan = topo.link_plans(seed=7)[0]
    again = LinkPlan.from_dict(json.loads(json.dumps(plan.to_dict())))  # what netkit.emu.linkproc builds from
    assert again == plan
    (sim_chain, _), (emu_chain, _) = plan.down.build(), again.down.build()
    queue = sim_chain.elements[-1].queue
    assert queue.seed == component_seed(7, "down.queue") != component_seed(8, "down.queue")
    assert emu_chain.elements[-1].queue.seed == queue.seed

    from netkit.link.packet import ECT1, Packet

    def decisions(chain) -> tuple[list, list]:
        drops, out = [], []
        chain.on_drop = lambda p, t: drops.append(p.uid)
        for i in range(3000):  # 1.5x the link's rate, ECT(1): marks, AQM drops and random loss
            chain.enqueue(Packet(1000, ecn=ECT1, sent=i * 444, uid=i), i * 444)
            out += [(t, p.uid, p.ecn) for t, p in chain.dequeue(i * 444)]
        return drops, out

    a, b = decisions(sim_chain), decisions(emu_chain)
    assert a == b and len(a[0]) > 100 and sum(e == 3 for _, _, e in a[1]) > 100


@pytest.mark.emu
@pytest.mark.skipif(EMU is not None, reason=EMU or "")
def test_lossy_dualpi2_direction_same_decisions_and_throughput_in_sim_and_emu():
    """ECT(1) CBR through 5 % Bernoulli loss and DualPI2, simulated and live with the same seed: the very same
    packets (by sequence number) are lost, the CE marks agree, and throughput is within 5 %."""
    data = {"duration_s": 6, "warmup_s": 1, "seed": 3,
            "links": {"down": {"trace": "constant:12", "delay_ms": 10, "loss": 0.05, "queue": "dualpi2"},
                      "up": {"delay_ms": 10}},
            "apps": [{"module": "cbr", "rate_mbps": 10, "ecn": "ect1"}]}
    from netkit.experiment.runner import run

    results = {mode: run(parse_experiment({**data, "mode": mode})) for mode in ("sim", "emu")}
    sent = {m: int(r.metrics["cbr.packets_sent"]) for m, r in results.items()}
    arrivals = {m: dict(r.apps[0].receiver.arrivals) for m, r in results.items()}
    n = min(sent.values())
    lost = {m: {s for s in range(n) if s not in arrivals[m]} for m in results}
    marked = {m: {s for s, e in arrivals[m].items() if e == 3 and s < n} for m in results}
    sim, emu = results["sim"].metrics, results["emu"].metrics
    print(f"sent {sent}; lost sim {len(lost['sim'])} emu {len(lost['emu'])}, same {len(lost['sim'] & lost['emu'])}; "
          f"marked sim {len(marked['sim'])} emu {len(marked['emu'])}, same {len(marked['sim'] & marked['emu'])}; "
          f"throughput sim {sim['throughput_mbps']:.4f} emu {emu['throughput_mbps']:.4f} Mbit/s")
    assert abs(sent["sim"] - sent["emu"]) <= 1
    assert len(lost["sim"]) > 100 and lost["sim"] == lost["emu"]  # the loss element's decisions, packet by packet
    # DualPI2 marks on sojourn and its own seeded draws; live arrival jitter may move a few marks
    assert len(marked["sim"] ^ marked["emu"]) <= 0.05 * n
    assert emu["throughput_mbps"] == pytest.approx(sim["throughput_mbps"], rel=0.05)


@pytest.mark.emu
@pytest.mark.skipif(EMU is not None, reason=EMU or "")
def test_star_runs_live_like_the_simulator():
    """A three-host star, live (a namespace per host, each behind its own link to a forwarding center) and simulated:
    a Cubic flow between two hosts limited by h2's own 4 Mbit/s access link, CBR from the center to h3."""
    data = {"duration_s": 4, "warmup_s": 1, "topology": {"kind": "star", "hosts": 3},
            "links": {"down": {"trace": "constant:12", "delay_ms": 5}, "up": {"trace": "constant:12", "delay_ms": 5},
                      "h2": {"down": {"trace": "constant:4"}}},
            "apps": [{"module": "bulk", "server": "h1", "client": "h2"},
                     {"module": "cbr", "server": "center", "client": "h3", "rate_mbps": 2}]}
    from netkit.experiment.runner import run

    sim = run(parse_experiment(data)).metrics
    emu = run(parse_experiment({**data, "mode": "emu"})).metrics
    for m in ("bulk.throughput_mbps", "cbr.throughput_mbps"):
        print(f"{m}: sim {sim[m]:.3f} emu {emu[m]:.3f}")
        assert emu[m] == pytest.approx(sim[m], rel=0.05)
    assert sim["bulk.throughput_mbps"] == pytest.approx(4, rel=0.05)


def _sweep_file(tmp_path: Path) -> Path:
    f = tmp_path / "exp.toml"
    f.write_text('duration_s = 1\n[links.down]\ntrace = "constant:6"\ndelay_ms = 10\nqueue = "droptail:packets=50"\n'
                 '[links.up]\ndelay_ms = 10\n[[apps]]\nmodule = "cbr"\nrate_mbps = 4\n')
    return f


GRID = ["--grid", "links.down.loss=0,0.02,0.05,0.1", "--grid", "apps.0.rate_mbps=3,5", "--seeds", "5"]


def _metrics(out: Path) -> dict:
    return {r["run_id"]: r["metrics"] for r in _record(out)}


def test_sweep_of_40_runs_same_metrics_on_the_local_pool_and_on_ray(tmp_path):
    pytest.importorskip("ray")
    f = _sweep_file(tmp_path)
    assert main(["sweep", str(f), *GRID, "--jobs", "2", "--out", str(tmp_path / "local"), "--no-progress"]) == 0
    assert main(["sweep", str(f), *GRID, "--jobs", "2", "--engine", "ray", "--out", str(tmp_path / "ray"),
                 "--no-progress"]) == 0
    local, ray = _metrics(tmp_path / "local"), _metrics(tmp_path / "ray")
    assert len(local) == 40 and local == ray
    summary = json.loads((tmp_path / "local" / "summary.json").read_text())
    assert len(summary["points"]) == 8 and all(p["runs"] == 5 for p in summary["points"])
    assert (tmp_path / "local" / "sweep.png").stat().st_size > 0


def test_sweep_killed_midway_then_resumed_runs_each_exactly_once(tmp_path):
    f = _sweep_file(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "netkit.cli", "sweep", str(f), *GRID, "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=ENV, start_new_session=True)
    log = tmp_path / ".out.partial" / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 8):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(log.read_text().splitlines())
    assert 8 <= done_before < 40 and not out.exists()
    assert subprocess.run(cmd + ["--resume"], env=ENV).returncode == 0
    ids = [json.loads(line)["run_id"] for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert not (tmp_path / ".out.partial").exists()


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from netkit.experiment import runner

    real = runner.run_sim

    def flaky(exp, *a, **k):
        if exp.seed == 1:
            raise RuntimeError("boom")
        return real(exp, *a, **k)

    monkeypatch.setattr(runner, "run_sim", flaky)
    out = tmp_path / "out"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--seeds", "3", "--out", str(out), "--no-progress"]) == 0
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in runs) == ["error", "ok", "ok"]
    assert "boom" in next(r["message"] for r in runs if r["status"] == "error")


@pytest.mark.parametrize("body, args, message", [
    ('duration_s = 1\nspeed = 3\n[[apps]]\nmodule = "bulk"\n', [], ": speed: unknown key; expected one of name,"),
    ('duration_s = "long"\n[[apps]]\nmodule = "bulk"\n', [], ": duration_s: expected a duration in seconds > 0"),
    ('[links.down]\ntrace = "nope.trace"\n[[apps]]\nmodule = "bulk"\n', [], ": links.down.trace: "),
    ('[links.down]\nloss = 2\n[[apps]]\nmodule = "bulk"\n', [], ": links.down.loss: expected a probability"),
    ('[[apps]]\nmodule = "ftp"\n', [], ": apps.0.module: unknown app 'ftp'; expected one of bulk, cbr"),
    ('[[apps]]\nmodule = "bulk"\ncc = "bbr"\n', [], ": apps.0.cc: expected one of cubic, reno, prague"),
    ('[topology]\nkind = "ring"\n[[apps]]\nmodule = "bulk"\n', [], ": topology.kind: expected one of path, dumbbell"),
    ('[[apps]]\nmodule = "bulk"\n', ["--grid", "links.down.los=0,0.1"], ": links.down.los: unknown key; expected"),
    ('[[apps]]\nmodule = "bulk"\n', ["--grid", "links.down.loss=0,7"], ": links.down.loss: expected a probability"),
    ('duration_s = 1\n[[apps]\n', [], ": not valid TOML"),
    ('[[apps]]\nmodule = "kvstream"\n', [], ": apps.0.profile: required"),
    ('[[apps]]\nmodule = "tokenstream"\ntoken_trace = "none.txt"\n', [], ": apps.0.token_trace: no such file"),
    ('[topology]\nkind = "dumbbell"\npairs = 1\n[[apps]]\nmodule = "bulk"\n[[apps]]\nmodule = "cbr"\n', [],
     ": apps.1: the dumbbell has 1 pairs"),
])
def test_bad_experiment_files_one_error_naming_file_key_and_expectation(tmp_path, capsys, body, args, message):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    out = tmp_path / "out"
    cmd = ["sweep", str(f), "--out", str(out), *args] if args else ["run", str(f), "--out", str(out)]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(f) in err[0] and message in err[0], err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_relative_paths_resolve_against_the_file_then_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "t.trace").write_text("1\n")
    (tmp_path / "cwd.trace").write_text("1\n")
    f = tmp_path / "sub" / "e.toml"
    f.write_text('[links.down]\ntrace = "t.trace"\n[links.up]\ntrace = "cwd.trace"\n[[apps]]\nmodule = "bulk"\n')
    monkeypatch.chdir(tmp_path)
    exp = load_experiment(f)
    assert exp.topology.down.trace == str(tmp_path / "sub" / "t.trace")
    assert exp.topology.up.trace == str(tmp_path / "cwd.trace")


def test_star_and_dumbbell_routes_and_sim_runs():
    from netkit.experiment.runner import run

    star = parse_experiment({"duration_s": 2, "topology": {"kind": "star", "hosts": 3},
                             "links": {"down": {"trace": "constant:12", "delay_ms": 5}, "up": {"delay_ms": 5},
                                       "h2": {"down": {"trace": "constant:3"}}},
                             "apps": [{"module": "bulk", "server": "h1", "client": "h2"},
                                      {"module": "cbr", "server": "center", "client": "h3", "rate_mbps": 1}]})
    assert star.topology.route("h1", "h2") == ["h1.up", "h2.down"]
    assert star.topology.direction("h2.down").trace == "constant:3"
    m = run(star).metrics
    assert m["bulk.throughput_mbps"] == pytest.approx(3, rel=0.1)  # h2's own access link is the bottleneck
    assert m["cbr.throughput_mbps"] == pytest.approx(1, rel=0.1)
    dumb = parse_experiment({"duration_s": 2, "links": {"down": {"trace": "constant:12"}},
                             "topology": {"kind": "dumbbell"}, "apps": [{"module": "bulk"}, {"module": "bulk"}]})
    assert dumb.topology.pairs == 2 and [a.key for a in dumb.apps] == ["bulk1", "bulk2"]
    assert dumb.topology.route("sender-2", "receiver-2") == ["down"]


@pytest.mark.parametrize("start_s, mbps", [(0, 12), (5, 3), (10, 24), (17.5, 6)])
def test_trace_start_enters_the_trace_that_far_into_it(start_s, mbps):
    """`links.down.trace_start_s` on a 12/3/24/6 Mbit/s staircase of 5 s steps: a bulk flow fills the step it
    enters (the capacity of that window, not the trace's first)."""
    from netkit.experiment.runner import run

    down = {"trace": "traces/steps-12-3-24-6.trace", "delay_ms": 10, "trace_start_s": start_s}
    exp = parse_experiment({"duration_s": 2.4, "warmup_s": 0.4, "seed": 0, "links": {"down": down, "up": {}},
                            "apps": [{"module": "bulk", "cc": "cubic"}]})
    assert run(exp).metrics["capacity_mbps"] == pytest.approx(mbps, rel=0.01)


def test_a_log_header_names_where_the_direction_enters_its_trace():
    """The Mahimahi log header of a direction with `trace_start_s` says where it entered the trace; one
    without it has mm-link's header lines only."""
    from netkit.net.direction import LinkDirection, log_header

    later = log_header("down", LinkDirection(trace="traces/steps-12-3-24-6.trace", trace_start_s=7.25), "netkit")
    plain = log_header("down", LinkDirection(trace="traces/steps-12-3-24-6.trace"), "netkit")
    assert "trace start: 7250 ms" in later and len(later) == len(plain) + 1
    assert not any(line.startswith("trace start") for line in plain)


def test_same_experiment_and_seed_same_metrics_bit_for_bit(tmp_path):
    data = {"duration_s": 3, "links": {"down": {"trace": "constant:8", "loss": 0.02, "loss_model": "ge",
                                                "queue": "pie:packets=100,qdelay_ref=15,max_burst=150"}}, "apps": [{"module": "bulk"}]}
    from netkit.experiment.runner import run

    a, b = run(parse_experiment(data)).metrics, run(parse_experiment(data)).metrics
    c = run(parse_experiment({**data, "seed": 1})).metrics
    assert a == b and a != c


def test_help_imports_neither_torch_nor_transformers():
    code = ("import sys, contextlib, io\nfrom netkit.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main(['--help'])\n"
            "    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""The `sfu` app on the experiment layer (star topology, SFU at the center) and `netkit sfu bench`."""
from __future__ import annotations

import json

import pytest

from netkit.cli import main
from netkit.errors import UserError
from netkit.experiment.runner import run
from netkit.experiment.spec import parse_experiment


def _exp(hosts=4, **app):
    return parse_experiment({
        "duration_s": 3, "warmup_s": 1, "seed": 3, "topology": {"kind": "star", "hosts": hosts},
        "links": {"down": {"trace": "constant:10", "delay_ms": 5}, "up": {"delay_ms": 5},
                  "h2": {"down": {"trace": "constant:0.3"}}},
        "apps": [{"module": "sfu", "participants": 2, "meetings": 2, "decode": False, **app}]})


def test_app_runs_meetings_on_the_experiment_star():
    m = run(_exp()).metrics
    assert m["sfu.fps_p50"] >= 29 and m["sfu.seq_gaps"] == 0
    assert 7 <= m["sfu.fps_min"] < 20                 # h2 (meeting 1) behind 0.3 Mbit/s moved down
    assert m["sfu.layer_changes"] >= 1 and 0 < m["sfu.cpu_packets_fraction"] < 0.035


def test_app_needs_a_star_of_the_right_size():
    with pytest.raises(UserError, match="4 hosts"):
        run(_exp(hosts=3))


def test_bench_cli_writes_summary(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["sfu", "bench", "--participants", "2", "--duration", "2", "--warmup", "0.5",
                 "--trace", "constant:10", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    for name in ("scallop", "software"):
        keys = set(s["sfus"][name])
        assert {"fps_p50", "freeze_ratio", "frame_delay_ms_p95", "forward_latency_ms_p50", "forward_latency_ms_p99",
                "cpu_packets_fraction", "cpu_bytes_fraction", "seq_gaps", "receivers"} <= keys
        assert {"meeting", "receiver", "sender", "trace", "fps", "max_freeze_ms"} <= set(s["sfus"][name]["receivers"][0])
    assert (out / "fps.png").stat().st_size > 0 and (out / "control_share.png").stat().st_size > 0
    assert len(s["sfus"]["scallop"]["receivers"][0]["fps_per_s"]) == 2
    assert main(["sfu", "bench", "--participants", "1", "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists() and "--participants" in capsys.readouterr().err


def test_example_experiment_runs(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "emulation" / "sfu" / "meetings.toml"
    out = tmp_path / "run"
    assert main(["run", str(example), "--out", str(out), "--set", "duration_s=3", "--set", "apps.0.decode=false"]) == 0
    (rec,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert rec["metrics"]["sfu.fps_p50"] >= 29 and rec["metrics"]["sfu.layer_changes"] >= 2   # h3 and h6 move down

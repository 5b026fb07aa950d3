"""`netkit replay` and `netkit trace`: outputs, targets over real traces, determinism and bad input."""
import json
from pathlib import Path

import pytest

from netkit.cli import main
from netkit.trace import synth, write_mahimahi

from netkit.trace.locate import lte_dir

SHARED = lte_dir() or Path("no-shared-traces")
KEYS = {"capacity_mbps", "throughput_mbps", "utilization", "delay_ms_p50", "delay_ms_p95", "delay_ms_p99", "loss_rate"}


@pytest.fixture
def c12(tmp_path):
    f = tmp_path / "c12.trace"
    write_mahimahi(synth.constant(12, 5), f)
    return f


def test_replay_writes_summary_logs_and_plots(tmp_path, c12, capsys):
    out = tmp_path / "out"
    rc = main(["replay", "--trace", str(c12), "--uplink", str(c12), "--delay", "10", "--queue", "droptail:packets=60",
               "--app", "bulk", "--app", "cbr:2", "--duration", "8", "--out", str(out)])
    assert rc == 0
    summary = _metrics(out)
    assert KEYS <= set(summary)
    assert {"cubic.throughput_mbps", "cbr:2.throughput_mbps"} <= set(summary)
    assert summary["capacity_mbps"] == pytest.approx(12, rel=0.01)
    assert 0.9 < summary["utilization"] <= 1.0
    assert summary["delay_ms_p50"] >= 10
    for name in ("downlink.log", "uplink.log", "throughput.png", "delay.png", "delay_cdf.png"):
        assert (out / name).stat().st_size > 0
    down = (out / "downlink.log").read_text().splitlines()
    assert down[0].startswith("# mahimahi mm-link (downlink)") and "# queue: droptail [packets=60]" in down
    assert any(" - " in line for line in down) and any(" # 1504" in line for line in down)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "utilisation" in printed[0] and str(out) in printed[0]
    assert not list(tmp_path.glob(".out.partial-*"))
    assert {"config.json", "runs.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}


def _metrics(out: Path) -> dict:
    (run,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    return run["metrics"]


@pytest.mark.skipif(not SHARED.exists(), reason="shared traces not present")
@pytest.mark.parametrize("trace", ["Verizon-LTE-short.down", "ATT-LTE-driving.down"])
def test_saturating_bulk_delivers_98_percent_of_real_trace(tmp_path, trace):
    out = tmp_path / "out"
    assert main(["replay", "--trace", str(SHARED / trace), "--delay", "20", "--queue", "droptail:packets=100",
                 "--duration", "60", "--warmup", "5", "--out", str(out)]) == 0
    s = _metrics(out)
    print(f"{trace}: utilisation {s['utilization']:.4f}, {s['throughput_mbps']:.3f} of {s['capacity_mbps']:.3f} Mbit/s")
    assert s["utilization"] >= 0.98


def _run(tmp_path, name, c12, seed, loss="0.02"):
    out = tmp_path / name
    main(["replay", "--trace", str(c12), "--delay", "15", "--loss", loss, "--loss-model", "ge",
          "--queue", "codel:packets=100,target=5,interval=100", "--app", "reno", "--app", "cbr:3",
          "--duration", "6", "--seed", str(seed), "--out", str(out)])
    return _metrics(out), (out / "downlink.log").read_bytes()


def test_same_seed_same_result_bit_for_bit(tmp_path, c12):
    a = _run(tmp_path, "a", c12, 4)
    b = _run(tmp_path, "b", c12, 4)
    c = _run(tmp_path, "c", c12, 5)
    assert a == b
    assert a[0]["loss_rate"] != c[0]["loss_rate"]


@pytest.mark.parametrize(
    "trace_text, message",
    [("1\n\n3\n", ":2: invalid empty line"), ("5\n2\n", ":2: timestamps must be monotonically nondecreasing"),
     ("", "no valid timestamps"), ("0\n", "nonzero amount of time")],
)
def test_malformed_trace_named_and_nothing_written(tmp_path, capsys, trace_text, message):
    bad = tmp_path / "bad.trace"
    bad.write_text(trace_text)
    out = tmp_path / "out"
    assert main(["replay", "--trace", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.parametrize(
    "args, message",
    [(["--queue", "fifo"], "unknown queue 'fifo'"),
     (["--queue", "droptail:packets=-3"], "droptail: packets=-3"),
     (["--queue", "droptail:packets"], "is not key=value"),
     (["--uplink-queue", "codel:packets=10"], "--uplink-queue"),
     (["--loss", "1.5"], "--loss: expected a probability in [0, 1)"),
     (["--delay", "-1"], "--delay: expected a delay in ms >= 0"),
     (["--duration", "0"], "--duration: expected a duration in seconds > 0"),
     (["--app", "ftp"], "--app 'ftp': unknown workload"),
     (["--app", "cbr:fast"], "expected cbr:MBPS")],
)
def test_bad_options_named_and_nothing_written(tmp_path, c12, capsys, args, message):
    out = tmp_path / "out"
    assert main(["replay", "--trace", str(c12), "--out", str(out)] + args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unrelated_out_folder_is_not_clobbered(tmp_path, c12, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["replay", "--trace", str(c12), "--duration", "1", "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_trace_synth_and_info(tmp_path, capsys):
    f = tmp_path / "steps.trace"
    assert main(["trace", "synth", "steps", "--steps", "2:12,2:3", "--out", str(f)]) == 0
    capsys.readouterr()
    assert main(["trace", "info", str(f), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["duration_s"] == pytest.approx(4, abs=0.01)
    assert info["mean_mbps"] == pytest.approx(7.5, rel=0.01)
    assert main(["trace", "synth", "steps", "--out", str(f)]) == 2
    assert "--steps" in capsys.readouterr().err


def test_mode_is_validated(c12):
    from netkit.errors import UserError
    from netkit.experiment.spec import parse_experiment

    with pytest.raises(UserError, match="mode: expected one of sim, emu"):
        parse_experiment({"mode": "live", "apps": [{"module": "bulk"}]})

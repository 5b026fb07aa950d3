"""One test per defect of issue 16 (hostile input, resource bounds, strict outputs), each failing before its fix.

Every refusal is checked the same way (`refused`): exit status 2, exactly one line on stderr that names the
option, key, file or line, no traceback, and nothing left where the output would have gone.
"""
import json
import os
import signal
import stat
from pathlib import Path

import numpy as np
import pytest

from netkit.cli import main


@pytest.fixture(autouse=True)
def bounded_time():
    """Each defect test is over in 60 s: a refusal is immediate, so running on means the value was accepted."""
    def fire(signum, frame):
        raise TimeoutError("still running after 60 s: the hostile value was accepted")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def refused(capsys, argv, *names, out: Path | None = None):
    """Run `netkit ARGV`; assert exit 2 with one stderr line holding every one of `names`; return that line."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, lines
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    if out is not None:
        assert not out.exists(), f"{out} was created"
        assert not list(out.parent.glob(f".{out.name}.partial*")), "a partial folder was left"
    return lines[0]


@pytest.fixture
def trace(tmp_path) -> Path:
    """A valid 12 Mbit/s-ish Mahimahi trace."""
    f = tmp_path / "ok.trace"
    f.write_text("".join(f"{t}\n" for t in range(1, 1001)))
    return f


# --- Tracebacks ---------------------------------------------------------------------------------------------

def test_trace_info_huge_timestamp_is_one_line_with_file_and_line(tmp_path, capsys):
    f = tmp_path / "huge.trace"
    f.write_text("1\n100000000000000000000000000000\n")
    refused(capsys, ["trace", "info", f], f"{f}:2", "limit")


def test_trace_info_window_ms_zero_names_the_option(trace, capsys):
    refused(capsys, ["trace", "info", trace, "--window-ms", "0"], "--window-ms")


@pytest.mark.parametrize("option", ["--duration", "--delay"])
def test_replay_infinite_duration_or_delay_names_the_option(tmp_path, trace, capsys, option):
    out = tmp_path / "out"
    refused(capsys, ["replay", "--trace", trace, "--out", out, option, "inf"], option, out=out)


def test_kvstream_encode_empty_file_names_in(tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    out = tmp_path / "kv.bin"
    refused(capsys, ["kvstream", "encode", "--in", empty, "--out", out], "--in", out=out)


def test_kvstream_encode_basis_npy_names_basis(tmp_path, capsys):
    kv = tmp_path / "kv.npy"
    np.save(kv, np.zeros((2, 2, 8, 2, 4), np.float32))
    out = tmp_path / "kv.bin"
    refused(capsys, ["kvstream", "encode", "--in", kv, "--basis", kv, "--out", out], "--basis", out=out)


def test_kvstream_bench_chunk_tokens_zero_names_the_option(tmp_path, capsys):
    out = tmp_path / "out"
    refused(capsys, ["kvstream", "bench", "--out", out, "--chunk-tokens", "0"], "--chunk-tokens", out=out)


@pytest.mark.parametrize("profile", ['[1, 2, 3]', '{"sizes": {"a": [1]}, "process": {"a": [1, 2]}}',
                                     '{"sizes": {"a": [1]}, "process": {"a": [1]}, "qualities": {"a": NaN}}'])
def test_stream_bench_profile_of_the_wrong_shape_names_profile(tmp_path, capsys, profile):
    f = tmp_path / "profile.json"
    f.write_text(profile)
    out = tmp_path / "out"
    refused(capsys, ["kvstream", "stream-bench", "--profile", f, "--out", out], "--profile", out=out)


@pytest.mark.parametrize("args, option", [(["--requests", "0"], "--requests"), (["--policy", "foo"], "--policy")])
def test_stream_bench_requests_zero_and_unknown_policy_name_the_option(tmp_path, capsys, args, option):
    out = tmp_path / "out"
    refused(capsys, ["kvstream", "stream-bench", "--out", out, *args], option, out=out)


@pytest.mark.parametrize("args, option", [
    (["--rate", "nan"], "--rate"), (["--rate", "-1"], "--rate"), (["--rtt", "inf"], "--rtt"),
    (["--duration", "0"], "--duration"), (["--skip", "-1"], "--skip"), (["--seed", "x"], "--seed"),
    (["--queue", "dualpi2:foo=1"], "--queue"), (["--trace", "/nonexistent.trace"], "--trace"),
    (["--app", "ftp"], "--app"), (["--skip", "40"], "--skip"),
])
def test_l4s_module_bad_options_are_one_line(tmp_path, capsys, args, option):
    from netkit.experiment.l4s import main as l4s_main

    out = tmp_path / "out"
    assert l4s_main(["--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1 and option in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob(".out.partial*"))


def test_l4s_module_droptail_queue_is_refused_for_what_it_is_not_for_a_seed(tmp_path, capsys):
    from netkit.experiment.l4s import main as l4s_main

    assert l4s_main(["--out", str(tmp_path / "out"), "--queue", "droptail:packets=10"]) == 2
    err = capsys.readouterr().err
    assert "seed" not in err and "--queue" in err and "Traceback" not in err


@pytest.mark.parametrize("args, option", [(["--delay", "nan"], "--delay"), (["--loss-burst", "0"], "--loss-burst")])
def test_link_options_checked_before_any_link_process(capsys, args, option):
    for command in (["shell"], ["link", "--outer", "a", "--inner", "b"]):
        refused(capsys, [*command, *args, "--", "true"] if command == ["shell"] else [*command, *args], option)


def test_shell_log_at_an_unwritable_path_is_refused_before_starting(trace, capsys):
    refused(capsys, ["shell", "--trace", trace, "--log", "/proc/no/such/dir", "--", "true"], "--log")


# --- Wrong results ------------------------------------------------------------------------------------------

def test_stream_live_unknown_policy_is_an_error_not_a_miss(tmp_path, trace, capsys):
    f = tmp_path / "profile.json"
    f.write_text(json.dumps({"sizes": {"fp16": [10]}, "process": {"fp16": [1]}, "qualities": {"fp16": 1.0}}))
    refused(capsys, ["kvstream", "stream-live", "--profile", f, "--trace", trace, "--policy", "foo"], "--policy")


@pytest.mark.parametrize("rate", ["nan", "inf", "-inf", "-3"])
@pytest.mark.parametrize("fmt", ["csv", "pensieve"])
def test_bad_rates_in_csv_and_pensieve_logs_are_errors_with_file_and_line(tmp_path, capsys, rate, fmt):
    f = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        f.write_text(f"time_s,mbps\n0,5\n1,{rate}\n2,3\n")
        line = 3
    else:
        f.write_text(f"0 5\n1 {rate}\n2 3\n")
        line = 2
    refused(capsys, ["trace", "info", f, "--format", fmt], f"{f}:{line}")


def test_synth_sigma_nan_is_refused(tmp_path, capsys):
    out = tmp_path / "x.trace"
    refused(capsys, ["trace", "synth", "randomwalk", "--sigma", "nan", "--out", out], "--sigma", out=out)


def test_duplicate_queue_keys_are_refused(tmp_path, trace, capsys):
    out = tmp_path / "out"
    refused(capsys, ["replay", "--trace", trace, "--out", out, "--queue", "droptail:packets=3,packets=4"],
            "--queue", "packets", "twice", out=out)


def test_link_outer_and_inner_the_same_namespace_is_refused(capsys):
    refused(capsys, ["link", "--outer", "A", "--inner", "A"], "--inner")


def test_shell_log_without_a_trace_is_refused(tmp_path, capsys):
    refused(capsys, ["shell", "--log", tmp_path / "logs", "--", "true"], "--log")
    assert not (tmp_path / "logs").exists()


def test_shell_stats_to_a_bad_path_is_refused_before_cmd_runs(tmp_path, capsys):
    marker = tmp_path / "ran"
    refused(capsys, ["shell", "--stats", "/nonexistent/dir/stats.json", "--", "touch", marker], "--stats")
    assert not marker.exists()


# --- Errors that do not name the option ---------------------------------------------------------------------

def test_loss_burst_nan_names_loss_burst_not_p_gb(tmp_path, trace, capsys):
    out = tmp_path / "out"
    line = refused(capsys, ["replay", "--trace", trace, "--out", out, "--loss", "0.1", "--loss-model", "ge",
                            "--loss-burst", "nan"], "--loss-burst", out=out)
    assert "p_gb" not in line


def test_high_loss_with_short_bursts_names_loss_burst_not_p_gb(tmp_path, trace, capsys):
    out = tmp_path / "out"
    line = refused(capsys, ["replay", "--trace", trace, "--out", out, "--loss", "0.9", "--loss-model", "ge"],
                   "--loss-burst", out=out)
    assert "p_gb" not in line


def test_stream_bench_negative_delay_names_the_option_in_ms(tmp_path, capsys):
    line = refused(capsys, ["kvstream", "stream-bench", "--out", tmp_path / "out", "--delay-ms", "-5"], "--delay")
    assert "µs" not in line and "-5000" not in line


def test_unknown_queue_argument_lists_the_accepted_ones(tmp_path, trace, capsys):
    line = refused(capsys, ["replay", "--trace", trace, "--out", tmp_path / "out", "--queue", "droptail:foo=3"],
                   "--queue", "foo", "packets=")
    assert "keyword argument" not in line


# --- Resource bounds ------------------------------------------------------------------------------------------

def test_replay_cbr_inf_is_refused(tmp_path, trace, capsys):
    out = tmp_path / "out"
    refused(capsys, ["replay", "--trace", trace, "--out", out, "--app", "cbr:inf"], "--app", out=out)


@pytest.mark.parametrize("shape", [(16, 2, 2**20, 32, 32), (1, 2, 2**16, 32, 32)])
def test_kvstream_container_declaring_more_than_it_holds_is_refused(tmp_path, capsys, shape):
    from netkit.apps.kvstream.container import Kind, pack_chunk, pack_container

    chunk = pack_chunk(Kind.FP16, 1, np.float16, shape, b"")  # forged as a hostile writer would: valid CRCs
    data = pack_container(Kind.FP16, 1, np.float16, shape, shape[2], [chunk])
    f = tmp_path / "bomb.kv"
    f.write_bytes(data)
    assert f.stat().st_size < 100
    out = tmp_path / "kv.npy"
    refused(capsys, ["kvstream", "decode", "--in", f, "--out", out], "--in", "declares", out=out)


def test_kvstream_chunk_declaring_more_than_its_container_holds_is_refused(tmp_path, capsys):
    from netkit.apps.kvstream.container import Kind, pack_chunk, pack_container

    chunk = pack_chunk(Kind.FP16, 1, np.float16, (1000, 2, 1, 1000, 1000), b"")  # 2e9 elements, no payload
    f = tmp_path / "bomb.kv"
    f.write_bytes(pack_container(Kind.FP16, 1, np.float16, (1, 2, 1, 1, 1), 1, [chunk]))
    out = tmp_path / "kv.npy"
    refused(capsys, ["kvstream", "decode", "--in", f, "--out", out], "--in", "declares", out=out)


def test_trace_with_a_huge_gap_is_refused(tmp_path, capsys):
    f = tmp_path / "gap.trace"
    f.write_text("0\n1\n100000000000\n")
    refused(capsys, ["trace", "info", f], f"{f}:3")


def test_synth_constant_at_1e9_mbps_is_refused(tmp_path, capsys):
    out = tmp_path / "x.trace"
    refused(capsys, ["trace", "synth", "constant", "--mbps", "1e9", "--out", out], "--mbps", out=out)


def test_synth_rate_times_duration_is_bounded(tmp_path, capsys):
    out = tmp_path / "x.trace"
    refused(capsys, ["trace", "synth", "constant", "--mbps", "100000", "--duration", "60", "--out", out],
            "limit", out=out)


def test_l4s_rate_1e9_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    refused(capsys, ["l4s", "--rate", "1e9", "--out", out], "--rate", out=out)


def test_simulated_rate_times_duration_is_bounded(tmp_path, capsys):
    out = tmp_path / "out"
    refused(capsys, ["l4s", "--rate", "100000", "--out", out], "--duration", "limit", out=out)


def test_shell_delay_1e15_is_refused(capsys):
    refused(capsys, ["shell", "--delay", "1e15", "--", "true"], "--delay")


def test_trace_timestamp_1e29_is_refused_for_the_link_too(tmp_path, capsys):
    f = tmp_path / "huge.trace"
    f.write_text("1\n100000000000000000000000000000\n")
    refused(capsys, ["shell", "--trace", f, "--", "true"], "--trace", f"{f}:2")


# --- Small: umask, strict JSON, --out . ------------------------------------------------------------------------

def test_outputs_follow_the_umask(tmp_path, trace, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert main(["replay", "--trace", str(trace), "--duration", "1", "--out", str(out)]) == 0
        syn = tmp_path / "synth.trace"
        assert main(["trace", "synth", "constant", "--duration", "1", "--out", str(syn)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "summary.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(syn.stat().st_mode) == 0o644


def _strict(text: str):
    def bad(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=bad)


def test_json_outputs_are_strict_when_nothing_is_delivered(tmp_path, capsys):
    f = tmp_path / "late.trace"
    f.write_text("59000\n60000\n")  # the first opportunity comes long after the run ends
    out = tmp_path / "out"
    assert main(["replay", "--trace", str(f), "--duration", "2", "--app", "cbr:1", "--out", str(out)]) == 0
    runs = [_strict(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[0]["metrics"]["delay_ms_p50"] is None  # undefined, written as null
    for name in ("summary.json", "config.json"):
        _strict((out / name).read_text())


@pytest.mark.parametrize("out", [".", "./"])
def test_out_dot_is_refused_and_leaves_no_dotdot_partial(tmp_path, trace, capsys, monkeypatch, out):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    refused(capsys, ["replay", "--trace", trace, "--duration", "1", "--out", out], "--out")
    assert not [p for p in list(work.iterdir()) + list(tmp_path.iterdir()) if "partial" in p.name]

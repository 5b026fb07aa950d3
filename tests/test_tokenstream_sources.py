"""Token sources: seeded synthetic generator, timing-trace files, and a local Hugging Face model."""
import pytest

from netkit.apps.tokenstream.sources import TokenTraceError, read_timing_trace, synthetic, write_timing_trace
from netkit.apps.tokenstream.tokens import TokenSchedule


def test_synthetic_is_seeded_and_has_the_requested_rate():
    a, b, c = synthetic(500, 25, 5, seed=1), synthetic(500, 25, 5, seed=1), synthetic(500, 25, 5, seed=2)
    assert a == b and a != c
    rate = (len(a) - 1) / (a.duration_us / 1e6)
    assert rate == pytest.approx(25, rel=0.05)


def test_timing_trace_roundtrip(tmp_path):
    s = TokenSchedule((0, 31_000, 31_000, 90_500), (b"Hi", b" \xc3\xa9t\xc3\xa9", b"", b"\n"))
    p = tmp_path / "t.trace"
    write_timing_trace(p, s, comment="test")
    assert read_timing_trace(p) == s


def test_timing_trace_without_text_gets_seeded_text(tmp_path):
    p = tmp_path / "gaps.trace"
    p.write_text("# gaps only\n100\n\n20.5\n30\n")
    s = read_timing_trace(p, seed=3)
    assert s.offsets_us == (100_000, 120_500, 150_500)
    assert s == read_timing_trace(p, seed=3) and all(s.tokens)


@pytest.mark.parametrize("body, msg", [("abc\n", "expected a gap"), ("-1\n", ">= 0"), ("5 hello\n", "JSON string"),
                                       ("# nothing\n", "no tokens")])
def test_timing_trace_errors_name_the_line(tmp_path, body, msg):
    p = tmp_path / "bad.trace"
    p.write_text(body)
    with pytest.raises(TokenTraceError, match=msg):
        read_timing_trace(p)


def test_schedule_rejects_bad_input():
    with pytest.raises(ValueError, match="before the previous"):
        TokenSchedule((10, 5), (b"a", b"b"))
    with pytest.raises(ValueError, match="at most 255"):
        TokenSchedule((0,), (b"x" * 256,))


def test_local_hf_model_generates_real_tokens_with_real_timing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from netkit.apps.tokenstream.hf import build_tiny_model, generate_schedule
    from netkit.net import LinkDirection
    from netkit.apps.tokenstream.simrun import simulate
    from netkit.cli import main

    model = build_tiny_model(tmp_path / "tiny")
    s = generate_schedule(model, "The server streams", max_new_tokens=12, seed=1)
    assert len(s) == 12 and s.offsets_us[0] > 0
    assert all(b >= a for a, b in zip(s.offsets_us, s.offsets_us[1:])) and s.offsets_us[-1] > s.offsets_us[0]
    run = simulate("eloquent", s, LinkDirection("constant:12", delay_ms=50, loss=0.2), seed=0)
    assert b"".join(run.receiver.log.texts) == b"".join(s.tokens)
    # `netkit tokenstream record` saves the same seeded tokens, with this run's own timing
    trace = tmp_path / "tiny.trace"
    assert main(["tokenstream", "record", "--model", str(model), "--prompt", "The server streams",
                 "--max-new-tokens", "12", "--seed", "1", "--out", str(trace)]) == 0
    assert "12 tokens" in capsys.readouterr().out
    recorded = read_timing_trace(trace)
    assert [t.decode("utf-8", "replace") for t in recorded.tokens] == [t.decode("utf-8", "replace") for t in s.tokens]

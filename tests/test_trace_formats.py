"""Throughput-log conversion (Pensieve/FCC, Norway/Belgium, CSV), synthetic generators and statistics."""
import pytest

from netkit.trace import (
    OPPORTUNITY_BYTES, TraceError, load_trace, rate_segments_to_trace, read_bytes_log, read_pensieve, synth,
    trace_stats,
)


def test_rate_conversion_preserves_capacity():
    tr = rate_segments_to_trace([(1000, 12.0), (1000, 3.0)])
    first = tr.opportunities_in(0, 1000) * OPPORTUNITY_BYTES * 8 / 1e6
    second = tr.opportunities_in(1000, 2000) * OPPORTUNITY_BYTES * 8 / 1e6
    assert first == pytest.approx(12.0, abs=0.02)
    assert second == pytest.approx(3.0, abs=0.02)


def test_rate_conversion_hand_computed():
    # 1.2032 Mbit/s = 150.4 bytes/ms: one 1504-byte opportunity every 10 ms
    tr = rate_segments_to_trace([(50, 1.2032)])
    assert tr.timestamps == (10, 20, 30, 40, 50)


def test_pensieve(tmp_path):
    f = tmp_path / "fcc.log"
    f.write_text("0 6.0\n1 2.0\n2 2.0\n")
    tr = read_pensieve(f)
    assert tr.period_ms == 2000
    assert tr.capacity_mbps(0, 1000) == pytest.approx(6.0, abs=0.02)
    assert tr.capacity_mbps(1000, 2000) == pytest.approx(2.0, abs=0.02)


def test_pensieve_errors_name_line(tmp_path):
    f = tmp_path / "fcc.log"
    f.write_text("0 6.0\n1 x\n")
    with pytest.raises(TraceError, match=r"fcc.log:2: expected numbers"):
        read_pensieve(f)
    f.write_text("1 6.0\n0 2.0\n")
    with pytest.raises(TraceError, match=r"fcc.log:1: time goes backwards"):
        read_pensieve(f)


def test_norway_six_columns(tmp_path):
    f = tmp_path / "norway.log"
    # unix time, ms since start, lat, lon, bytes, elapsed ms: 150000 bytes per 1000 ms = 1.2 Mbit/s
    f.write_text("".join(f"1289406399 {i * 1000} 59.85 10.78 150000 1000\n" for i in range(10)))
    tr = read_bytes_log(f)
    assert tr.mean_mbps == pytest.approx(1.2, rel=0.01)
    assert load_trace(str(f)).timestamps == tr.timestamps  # auto-detected


def test_norway_bad_elapsed(tmp_path):
    f = tmp_path / "norway.log"
    f.write_text("1 0 59.85 10.78 1000 0\n")
    with pytest.raises(TraceError, match=r"norway.log:1: elapsed ms \(column 6\) must be > 0"):
        read_bytes_log(f)


def test_csv(tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("time_s,mbps\n0,4\n2,4\n")
    assert load_trace(str(f)).mean_mbps == pytest.approx(4.0, rel=0.01)
    f.write_text("t,rate\n0,4\n")
    with pytest.raises(TraceError, match="expected header columns time_s,mbps"):
        load_trace(str(f), "csv")


def test_synthetic_generators():
    assert synth.constant(12, 10).mean_mbps == pytest.approx(12, rel=0.002)
    st = synth.steps([(2, 12), (2, 3)])
    assert st.capacity_mbps(0, 2000) == pytest.approx(12, abs=0.02)
    assert st.capacity_mbps(2000, 4000) == pytest.approx(3, abs=0.02)
    oo = synth.on_off(10, on_s=1, off_s=1, cycles=2)
    assert oo.opportunities_in(1001, 2000) == 0 and oo.opportunities_in(0, 1000) > 0
    a, b = synth.random_walk(6, 30, seed=3), synth.random_walk(6, 30, seed=3)
    assert a.timestamps == b.timestamps
    assert a.timestamps != synth.random_walk(6, 30, seed=4).timestamps
    assert synth.markov([1, 5, 10], seed=1).timestamps == synth.markov([1, 5, 10], seed=1).timestamps


def test_generator_rejects_bad_values():
    with pytest.raises(TraceError, match="mbps must be > 0"):
        synth.constant(0)
    with pytest.raises(TraceError, match="step 2"):
        synth.steps([(1, 2), (0, 3)])


def test_stats():
    st = trace_stats(synth.steps([(5, 10), (5, 2)]))
    assert st.duration_s == pytest.approx(10, abs=0.01)
    assert st.mean_mbps == pytest.approx(6, rel=0.01)
    assert st.p95_mbps == pytest.approx(10, abs=0.05) and st.p5_mbps == pytest.approx(2, abs=0.05)

"""Controller: online bandwidth estimate, meeting the TTFT target when bandwidth allows, falling back when not."""
from pathlib import Path

import pytest

from netkit.apps.kvstream.controller import AdaptiveController, FixedController, ThroughputEstimator
from netkit.apps.kvstream.profile import StreamProfile
from netkit.trace.locate import lte_dir
from netkit.apps.kvstream.streamsim import kv_path, lte_paths, run_sweep, simulate_request, summarize

LEVELS = [f"kvstream-L{i}" for i in range(5)]
SIZES = dict(zip(LEVELS, [1_000_000, 800_000, 600_000, 500_000, 400_000]), int8=1_500_000, fp16=3_000_000, text=600)
DECODE = dict(zip(LEVELS, [20_000, 18_000, 16_000, 14_000, 12_000]), int8=5_000, fp16=2_000, text=1_500_000)
QUALITY = dict(zip(LEVELS, [0.9998, 0.9992, 0.998, 0.994, 0.988]), int8=0.99999, fp16=1.0, text=1.0)
PROFILE = StreamProfile.synthetic(8, SIZES, DECODE, QUALITY)
LTE = lte_dir() or Path("no-shared-traces")


def _path(mbps):
    return kv_path(f"constant:{mbps}", None, 20, "droptail:packets=100")


def test_estimator_is_bytes_weighted_harmonic_mean_and_skips_tiny_chunks():
    est = ThroughputEstimator(prior_bps=1000.0, window=2)
    assert est.estimate_bps == 1000.0
    assert not est.add(600, 0.01)  # a text chunk: too small to time
    est.add(100_000, 1.0)
    est.add(300_000, 1.0)
    assert est.estimate_bps == pytest.approx(200_000)
    est.add(100_000, 2.0)  # window 2: the first sample is gone
    assert est.estimate_bps == pytest.approx(400_000 / 3.0)


def test_estimate_tracks_a_step_change_from_acks_alone():
    """A hand-built timeline: 1 MB chunks at 10 Mbit/s, then 2 Mbit/s; two outstanding; 100 ms RTT."""
    n, size, owd = 12, 1_000_000, 50_000
    prof = StreamProfile.synthetic(n, {"int8": size}, {"int8": 1000}, {"int8": 1.0})
    ctrl = FixedController(prof, "int8", rtt_us=2 * owd)
    ctrl.start(0, 60_000_000, n)
    rates = [1.25e6] * 6 + [0.25e6] * 6  # bytes/s
    written = {0: 0, 1: 0}
    ctrl.on_sent(0, "int8", size, 0)
    ctrl.on_sent(1, "int8", size, 0)
    link_free = 0.0
    for k in range(n):
        link_free = max(link_free, written[k] + owd) + size / rates[k] * 1e6
        ack = int(link_free + owd)
        ctrl.on_ack(k, ack)
        if k + 2 < n:
            written[k + 2] = ack
            ctrl.on_sent(k + 2, "int8", size, ack)
        if k == 5:
            assert ctrl.estimator.estimate_bps == pytest.approx(1.25e6, rel=0.01)
        if k == 7:  # two of three samples at the new rate: already most of the way down
            assert ctrl.estimator.estimate_bps < 0.5e6
        if k == 8:  # three samples after the step: the window holds only the new rate
            assert ctrl.estimator.estimate_bps == pytest.approx(0.25e6, rel=0.01)


def test_estimate_tracks_a_step_change_in_the_simulator(tmp_path):
    from netkit.trace import synth, write_mahimahi

    trace = tmp_path / "step.trace"
    write_mahimahi(synth.steps([(6, 12), (60, 3)]), trace)
    prof = StreamProfile.synthetic(16, {"int8": 1_000_000}, {"int8": 1000}, {"int8": 1.0})
    _, server, _ = simulate_request(prof, "int8", kv_path(str(trace), None, 20, "droptail:packets=100"), 60.0)
    by_ack = [(t, bps * 8 / 1e6) for t, _, bps in server.controller.estimates]
    goodput = 0.96  # stream payload per link byte (IP, transport and TUN headers)
    before = [e for t, e in by_ack if 3e6 < t < 6e6]
    after = [e for t, e in by_ack if t > 6e6 + 3 * 2.8e6]
    assert before and after
    assert all(abs(e - 12 * goodput) < 0.15 * 12 for e in before), before
    assert all(abs(e - 3 * goodput) < 0.15 * 3 for e in after), after


def test_meets_target_at_the_best_level_when_bandwidth_allows():
    # loose target: even planned with the prior (4 Mbit/s x safety), every chunk fits at L0
    res, _, _ = simulate_request(PROFILE, "kvstream", _path(48), target_s=30.0)
    assert res.options == ["kvstream-L0"] * 8 and res.ttft_s < 3.5 and res.chunks_ok
    # tight target with a prior at the link's rate (e.g. remembered from the client's last request): all L0
    res, _, _ = simulate_request(PROFILE, "kvstream", _path(48), target_s=5.0,
                                 controller_kwargs={"prior_bps": 45e6 / 8})
    assert res.options == ["kvstream-L0"] * 8 and res.ttft_s < 2.0
    # tight target, default (low) prior: the first chunks hedge, then the estimate from ACKs allows L0
    res, _, _ = simulate_request(PROFILE, "kvstream", _path(48), target_s=5.0)
    assert not res.miss and res.ttft_s < 5.0
    assert res.options[-5:] == ["kvstream-L0"] * 5


@pytest.mark.parametrize("mbps", [1.5, 3, 6])
def test_falls_back_to_lower_levels_or_text_when_bandwidth_is_short(mbps):
    target = 6.0
    ada, _, _ = simulate_request(PROFILE, "kvstream", _path(mbps), target)
    int8, _, _ = simulate_request(PROFILE, "int8", _path(mbps), target, cap_s=120)
    text, _, _ = simulate_request(PROFILE, "text", _path(mbps), target, cap_s=120)
    assert ada.ttft_s is not None and ada.ttft_s < int8.ttft_s
    assert ada.ttft_s <= text.ttft_s + 0.5
    assert "kvstream-L0" not in ada.options[2:]
    assert all(o in ("kvstream-L3", "kvstream-L4", "text") for o in ada.options[2:]) or mbps == 6
    if mbps == 1.5:  # too slow even for L4 alone: text takes part of the work
        assert "text" in ada.options
    if mbps == 6:
        assert not ada.miss and int8.miss


def test_plans_use_text_when_recompute_beats_any_transfer():
    prof = StreamProfile.synthetic(4, SIZES, {**DECODE, "text": 100_000}, QUALITY)
    res, _, _ = simulate_request(prof, "kvstream", _path(1), target_s=1.0)
    assert res.options[2:] == ["text", "text"]  # after the prior's two chunks, nothing KV can compete


@pytest.mark.skipif(not (LTE / "Verizon-LTE-short.down").exists(), reason="shared LTE traces not present")
def test_lte_sweep_is_deterministic_and_kvstream_misses_less_than_int8():
    paths = [p for p in lte_paths(LTE) if p.down.label == "Verizon-LTE-short.down"]
    kw = dict(policies=("kvstream", "int8"), targets_s=(8.0,), requests_per_trace=6)
    rows = run_sweep(PROFILE, paths, seed=3, **kw)
    assert rows == run_sweep(PROFILE, paths, seed=3, **kw)
    other = run_sweep(PROFILE, paths, seed=4, **kw)
    assert [r["offset_s"] for r in other] != [r["offset_s"] for r in rows]
    s = summarize(rows)["8"]
    assert s["kvstream"]["miss_share"] < s["int8"]["miss_share"]
    assert s["kvstream"]["all_chunks_ok"] and s["int8"]["all_chunks_ok"]


def test_adaptive_controller_validates_arguments():
    with pytest.raises(ValueError):
        AdaptiveController(PROFILE, safety=0)
    ctrl = AdaptiveController(PROFILE)
    with pytest.raises(ValueError):
        ctrl.start(0, 1_000_000, 3)

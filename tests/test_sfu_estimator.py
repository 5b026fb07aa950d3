"""The receivers' GCC-like downlink estimate: queue-floor trend, overuse/underuse, AIMD; and its effect in a meeting."""
from __future__ import annotations

from netkit.apps.sfu.estimator import BETA, TrendEstimator


def _interval(est: TrendEstimator, t0: int, queue_ms: list[float]) -> None:
    for k, q in enumerate(queue_ms):
        est.on_packet(t0 + k * 5000, q)


def test_rising_queue_is_overuse_and_cuts_to_beta_times_received():
    est = TrendEstimator(3e6)
    _interval(est, 0, [2.0] * 50)
    est.update(500_000, 2e6)
    _interval(est, 500_000, [30.0 + k for k in range(50)])     # the floor rose by ~30 ms
    assert est.update(1_000_000, 1e6) == BETA * 1e6 and est.signal == "overuse"


def test_draining_queue_holds_the_estimate():
    est = TrendEstimator(3e6)
    _interval(est, 0, [300.0 - k for k in range(50)])
    est.update(500_000, 1e6)                                    # standing queue: cut
    held = est.estimate_bps
    _interval(est, 500_000, [200.0 - 2 * k for k in range(50)])
    assert est.update(1_000_000, 0.5e6) == held and est.signal == "underuse"


def test_a_keyframe_burst_is_not_overuse():
    est = TrendEstimator(1e6)
    _interval(est, 0, [1.0] * 50)
    est.update(500_000, 1e6)
    _interval(est, 500_000, [1.0] * 40 + [80.0, 60.0, 40.0, 20.0] + [1.0] * 6)
    assert est.update(1_000_000, 1e6) > 1e6 and est.signal == "normal"


def test_near_the_last_congestion_it_probes_additively_far_above_multiplicatively():
    est = TrendEstimator(1e6)
    _interval(est, 0, [50.0] * 50)
    est.update(500_000, 1e6)                                    # congestion at 1 Mbit/s
    t = 500_000
    steps = []
    for _ in range(12):
        _interval(est, t, [50.0] * 50)
        before = est.estimate_bps
        t += 500_000
        steps.append(est.update(t, 1e6) - before)
    assert steps[0] == steps[1] > 0                            # additive near 0.85-1.15 Mbit/s
    assert steps[-1] > 2 * steps[0]                            # multiplicative once well above it


def test_trend_recovers_after_a_step_up_faster_than_the_queue_rule(tmp_path):
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings
    from netkit.trace import synth
    from netkit.trace.mahimahi import write_mahimahi

    trace = tmp_path / "up.trace"
    write_mahimahi(synth.steps([(5, 1), (10, 10)]), trace)
    ups = {}
    for est in ("trend", "queue"):
        plan = MeetingPlan(participants=3, traces=("constant:10", "constant:10", str(trace)), duration_s=15,
                           estimator=est, decode=False)
        s = run_meetings(plan, "software")
        moves = [c for c in s["layer_changes"] if c["receiver"] == "m1p3"]
        assert moves[0]["t_s"] <= 1.0 and moves[0]["to"] < 2            # down within 1 s of the overload
        ups[est] = [c["t_s"] for c in moves if c["t_s"] > 5 and c["to"] > c["from"]]
    assert ups["trend"] and ups["trend"][0] < (ups["queue"] or [99])[0]
    assert len(ups["trend"]) > len(ups["queue"])                       # and goes further up in the same time

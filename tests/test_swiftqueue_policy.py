"""The marking policies: hysteresis, probes, fixed queues, the oracle; the ground-truth timeline."""
from __future__ import annotations

import numpy as np

from netkit.apps.swiftqueue.policy import FixedPolicy, OraclePolicy, PredictivePolicy
from netkit.apps.swiftqueue.predictors import Ewma, LastValue, WindowMean
from netkit.apps.swiftqueue.sender import Feedback
from netkit.apps.swiftqueue.truth import QueueTruth, Timeline


class Scripted:
    """A predictor that says what the test tells it."""

    def __init__(self) -> None:
        self.value = (1.0, 5.0)
        self.seen = []

    def predict(self, now):
        return self.value

    def observe(self, s):
        self.seen.append(s)


def test_fixed_policies():
    assert all(FixedPolicy(True).choose(t) for t in range(10))
    assert not any(FixedPolicy(False).choose(t) for t in range(10))


def test_predictive_policy_switches_with_hysteresis():
    pred = Scripted()
    pol = PredictivePolicy(pred, hysteresis_ms=2.0, probe_ms=0)
    assert pol.choose(0)  # L faster
    pred.value = (6.0, 5.0)  # C faster by 1 ms < hysteresis: stay in L
    assert pol.choose(1)
    pred.value = (8.0, 5.0)  # C faster by 3 ms: move
    assert not pol.choose(2)
    pred.value = (4.0, 5.0)  # L faster by 1 ms only: stay in C
    assert not pol.choose(3)
    pred.value = (2.0, 5.0)
    assert pol.choose(4)
    assert pol.switches == 2


def test_predictive_policy_probes_the_other_queue():
    pred = Scripted()  # L 1 ms, C 5 ms: C worse by 4 ms (< far_ms): probe every 100 ms
    pol = PredictivePolicy(pred, hysteresis_ms=1.0, probe_ms=100.0, probe_far_ms=1000.0, far_ms=5.0)
    picks = [pol.choose(t * 10_000) for t in range(100)]  # a packet every 10 ms for 1 s
    assert picks.count(False) == 9 and not picks[10] and not picks[20]
    pred.value = (1.0, 30.0)  # C far worse: one probe per second
    picks = [pol.choose(1_000_000 + t * 10_000) for t in range(200)]
    assert picks.count(False) == 2
    s = Feedback(10, 0, 1500, True, 20_000)
    pol.observe(s)
    assert pred.seen == [s]


def test_oracle_follows_the_true_sojourns():
    # L queue busy (20 ms sojourns) between 1 and 2 s, C always 3 ms
    t = np.arange(0, 3_000_000, 1000)
    l_soj = np.where((t >= 1_000_000) & (t < 2_000_000), 20_000, 500)
    tl = Timeline(QueueTruth(t + l_soj, l_soj), QueueTruth(t + 3000, np.full(len(t), 3000)))
    pol = OraclePolicy(tl, fwd_delay_us=10_000)
    assert pol.choose(500_000)
    assert not pol.choose(1_500_000)
    assert not pol.choose(995_000)  # arrives at the bottleneck 10 ms later, inside the busy period
    assert pol.choose(2_500_000)


def test_timeline_between_packets():
    # one packet entered at 0 and left at 10 ms; an idle queue afterwards
    q = QueueTruth(np.array([10_000]), np.array([10_000]))
    assert q.sojourn_us(np.array([5_000]))[0] == 6_000  # waits for the earlier packet, plus a slot
    assert q.sojourn_us(np.array([50_000]))[0] == 1_000  # idle: one slot


def test_simple_predictors_per_queue():
    samples = [Feedback(t, t - 20_000 - q, 1500, q == 0, 20_000 + q) for t, q in
               ((0, 0), (1, 5000), (2, 0), (3, 9000))]
    last, ewma, mean = LastValue(), Ewma(gain=0.5), WindowMean(n=2)
    for s in samples:
        for p in (last, ewma, mean):
            p.observe(s)
    assert last.predict(4) == (0.0, 9.0)
    assert ewma.predict(4) == (0.0, 7.0)
    assert mean.predict(4) == (0.0, 7.0)
    assert LastValue(bias=(0.5, 1.0)).predict(0) == (0.5, 1.0)


def test_error_margin_needs_a_gain_larger_than_the_predictions_error():
    """With error_margin, a switch to C needs the predicted gain to beat k x the recent error of C predictions."""
    pred = Scripted()
    pred.value = (10.0, 10.0)
    pol = PredictivePolicy(pred, hysteresis_ms=1.0, probe_ms=0, error_margin=1.0)
    plain = PredictivePolicy(Scripted(), hysteresis_ms=1.0, probe_ms=0)
    rng = np.random.default_rng(0)
    # C feedback that scatters +-8 ms around what was predicted for it (min RTT 20 ms: qdelay = rtt - 20 ms)
    pol.observe(Feedback(1_000, 0, 1500, True, 20_000))
    for k in range(1, 200):
        t = k * 1000
        pol.choose(t)
        pol.observe(Feedback(t + 30_000, t, 1500, False, 20_000 + int(1000 * (10 + rng.choice([-8, 8])))))
    assert pol.errors.mad[1] > 5.0
    pred.value = (14.0, 10.0)  # C predicted 4 ms faster: more than the hysteresis, less than C's error
    plain.predictor.value = (14.0, 10.0)
    assert pol.choose(300_000) and pol.switches == 0
    assert not plain.choose(300_000)
    pred.value = (30.0, 10.0)  # 20 ms faster: beyond the error, switch
    assert not pol.choose(301_000) and pol.switches == 1

"""The decision classifier (issue 12): labels from the lookahead, the decision policy, the logit head's model files,
weighted BCE training, the online probability and a short simulated run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from netkit.apps.swiftqueue.dataset import Windows, simulate, windows
from netkit.apps.swiftqueue.decision import (
    MAX_WEIGHT_MS, MIN_WEIGHT_MS, auc, decision_labels, decision_metrics, decision_weights,
)
from netkit.apps.swiftqueue.features import WINDOW, sliding_windows, window_features
from netkit.apps.swiftqueue.model import (
    ModelFileError, TorchPredictor, build, is_decision_model, load_model, save_model,
)
from netkit.apps.swiftqueue.policy import DecisionPolicy
from netkit.apps.swiftqueue.sender import Feedback
from netkit.apps.swiftqueue.train import fit, model_probabilities
from netkit.errors import UserError

TINY = {"d_model": 16, "heads": 2, "layers": 1, "ff": 32, "decision": True}
TRACE = "traces/const-12mbps.trace"


def test_labels_are_one_only_where_c_is_faster_by_the_margin():
    # (L, C) ms of a hand-made lookahead: C faster by 10, by exactly 5, by 4.9, slower by 10, equal (outage)
    la = np.array([[20.0, 10.0], [15.0, 10.0], [14.9, 10.0], [10.0, 20.0], [80.0, 80.0]])
    assert decision_labels(la, 5.0).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert decision_labels(la, 0.0).tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]  # a tie counts as "not slower"
    w = decision_weights(np.array([[20.0, 10.0], [80.0, 80.0], [500.0, 0.0], [10.0, 30.0]]))
    assert w.tolist() == [10.0, MIN_WEIGHT_MS, MAX_WEIGHT_MS, 20.0]  # the cost of a wrong call, clipped


def test_decision_metrics_and_auc():
    la = np.array([[20.0, 10.0], [10.0, 20.0], [30.0, 5.0], [10.0, 10.0]])
    assert auc(np.array([0.9, 0.1, 0.8, 0.2]), decision_labels(la, 5.0)) == 1.0
    assert auc(np.array([0.1, 0.9, 0.2, 0.8]), decision_labels(la, 5.0)) == 0.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), decision_labels(la, 5.0)) == 0.5
    m = decision_metrics(np.array([0.9, 0.6, 0.1, 0.2]), la, 5.0)  # one right move, one wrong, one missed
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["to_c_share"] == 0.5
    assert m["gain_ms_per_point"] == pytest.approx((10.0 - 10.0) / 4)  # +10 ms won, 10 ms lost
    assert m["oracle_gain_ms_per_point"] == pytest.approx((10.0 + 25.0) / 4)


class StubDecider:
    """A classifier whose answers are scripted per call; records what it is told."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)
        self.observed: list[Feedback] = []
        self.sends: list[tuple[int, bool]] = []

    def probability(self, now: int) -> float:
        return self.probs.pop(0)

    def observe(self, s: Feedback) -> None:
        self.observed.append(s)

    def sent(self, now: int, in_l: bool) -> None:
        self.sends.append((now, in_l))


def test_decision_policy_moves_single_packets_above_the_threshold():
    d = StubDecider([0.1, 0.7, 0.2, 0.5, 0.51, 0.0])
    pol = DecisionPolicy(d, threshold=0.5)
    choices = [pol.choose(t * 1000) for t in range(6)]
    assert choices == [True, False, True, True, False, True]  # no hysteresis: back to L at once
    assert pol.into_c == 2 and pol.switches == 4 and pol.probes == 0
    assert d.sends == [(t * 1000, c) for t, c in enumerate(choices)]  # the in-flight counter hears every send
    s = Feedback(5000, 1000, 1228, True, 20_000)
    pol.observe(s)
    assert d.observed == [s]
    with pytest.raises(ValueError, match="threshold"):
        DecisionPolicy(d, threshold=1.5)


def test_decision_policy_probes_c_when_it_has_not_been_there():
    pol = DecisionPolicy(StubDecider([0.0] * 40), threshold=0.5, probe_ms=10.0)
    choices = [pol.choose(t * 1000) for t in range(40)]
    assert [t for t, c in enumerate(choices) if not c] == [10, 20, 30]
    assert pol.probes == 3 and pol.into_c == 0


def test_decision_head_save_load_roundtrip_and_wrong_shape(tmp_path):
    torch.manual_seed(0)
    m = build("transformer", TINY).eval()
    assert is_decision_model(m) and not is_decision_model(build("transformer", {}))
    path = tmp_path / "dec.pt"
    save_model(path, m, "transformer", TINY, extra={"target": "decision"})
    back = load_model(path)
    assert is_decision_model(back)
    x, b = torch.randn(5, WINDOW, 8), torch.randn(5, 2)
    with torch.no_grad():
        out = m(x, b)
        assert out.shape == (5, 1) and torch.equal(out, back(x, b))
    # the logit head's weights under a config that says a latency head: refused, naming the file
    blob = torch.load(path, weights_only=True)
    blob["config"]["decision"] = False
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match=r"dec\.pt.*weights do not fit"):
        load_model(path)
    g = {"hidden": 8, "decision": True}
    save_model(tmp_path / "g.pt", build("gru", g), "gru", g)
    assert load_model(tmp_path / "g.pt")(x, b).shape == (5, 1)


def decision_windows(n: int = 384, seed: int = 0) -> Windows:
    """Synthetic feedback whose L delay swings; the lookahead says C is 8 ms faster while L's delay is high."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + WINDOW) * 2000
    qd = 5000 + 8000 * np.sin(t / 30_000) ** 2 + rng.integers(0, 300, len(t))
    raw = np.stack([t, t - 20_000 - qd, np.full(len(t), 1500), np.ones(len(t)), 20_000 + qd], 1).astype(np.int64)
    now = raw[WINDOW - 1:, 0]
    x, base = window_features(sliding_windows(raw), now, np.full(len(now), 20_000))
    l_ms = qd[WINDOW - 1:] / 1000.0
    y = np.stack([l_ms, np.where(l_ms > 9.0, l_ms - 8.0, l_ms + 3.0)], 1).astype(np.float32)
    return Windows(x, base, y, np.zeros(len(y), int), np.arange(len(y)))


def test_weighted_bce_training_lowers_the_loss_seeded_and_separates():
    w = decision_windows()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build("transformer", TINY)
        runs.append((m, fit(m, w, epochs=8, seed=1, lr=3e-3, batch=32, decision_margin_ms=5.0)))
    assert runs[0][1] == runs[1][1]  # seeded
    losses = runs[0][1]
    assert losses[-1] < 0.5 * losses[0]
    p = model_probabilities(runs[0][0], w)
    assert auc(p, decision_labels(w.y, 5.0)) > 0.9


def test_online_probability_is_the_modules_sigmoid():
    torch.manual_seed(0)
    m = build("transformer", TINY).eval()
    tp = TorchPredictor(m, infer_every_us=0)
    assert tp.probability(0) == 0.0  # no full history yet: stay in L
    rng = np.random.default_rng(3)
    for k in range(WINDOW + 5):
        rtt = 20_000 + int(rng.integers(0, 5000))
        tp.observe(Feedback(k * 2000 + 30_000, k * 2000 + 30_000 - rtt, 1228, k % 3 != 0, rtt))
    now = (WINDOW + 5) * 2000 + 30_000
    p = tp.probability(now)
    x, base = tp.history.features(now)
    with torch.no_grad():
        logit = float(m(torch.from_numpy(x)[None], torch.from_numpy(base)[None])[0, 0])
    assert p == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5) and 0.0 < p < 1.0


def test_decision_policy_runs_in_the_simulator_and_refuses_a_latency_model(tmp_path):
    torch.manual_seed(0)
    m = build("transformer", {**TINY, "window": 32})
    path = tmp_path / "dec.pt"
    save_model(path, m, "transformer", {**TINY, "window": 32})
    with torch.no_grad():  # a classifier that always says C: every packet after the first history goes there
        m.head[-1].bias.fill_(20.0)
    save_model(tmp_path / "always_c.pt", m, "transformer", {**TINY, "window": 32})
    r = simulate(TRACE, 3, "bursts", "decision", duration_s=5.0, model=str(tmp_path / "always_c.pt"))
    assert 0.0 < r.metrics["share_l"] < 0.2  # only the packets before a full history stay in L
    assert r.metrics["spurious_retransmits"] == 0
    latency_model = tmp_path / "lat.pt"
    save_model(latency_model, build("transformer", {}), "transformer", {})
    with pytest.raises(UserError, match=r"lat\.pt.*decision model"):
        simulate(TRACE, 3, "bursts", "decision", duration_s=4.0, model=str(latency_model))
    with pytest.raises(UserError, match=r"dec\.pt.*latency model"):
        simulate(TRACE, 3, "bursts", "swiftqueue", duration_s=4.0, model=str(path))


def test_decision_windows_carry_the_lookahead():
    r = simulate(TRACE, 3, "bursts", "l4s", duration_s=5.0, record_lookahead=True)
    w = windows([r], target="decision")
    la = windows([r], target="lookahead")
    assert np.array_equal(w.y, la.y) and len(w) > 50
    labels = decision_labels(w.y, 5.0)
    assert 0.0 <= labels.mean() <= 1.0


def test_train_command_decision_target_writes_a_decision_model_and_card(tmp_path, monkeypatch):
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.train import train_command

    monkeypatch.setattr(scenario, "TRAIN_TRACES", (TRACE,))
    monkeypatch.setattr(scenario, "TEST_TRACES", ("traces/steps-12-3-24-6.trace",))
    monkeypatch.setattr(scenario, "MIXES", ("bursts",))
    from netkit.apps.swiftqueue.features import FeatureSpec

    card = train_command("dec", str(tmp_path), seeds=1, duration_s=5.0, epochs=1, budget_min=2.0, log=lambda s: None,
                         spec=FeatureSpec(recent=32, staleness=True, inflight=True),
                         data_policies=("l4s", "oracle-stale"), target="decision", decision_margin_ms=5.0)
    assert card["data"]["target_kind"] == "decision" and card["data"]["test_policy"] == "l4s"
    assert set(card["held_out"]) == {"last", "swiftqueue", "lstm"}
    assert 0.0 <= card["held_out"]["swiftqueue"]["positive_share"] <= 1.0
    m = load_model(tmp_path / "dec.pt")
    assert is_decision_model(m) and m.meta["extra"]["decision_margin_ms"] == 5.0
    assert is_decision_model(load_model(tmp_path / "dec_gru.pt"))
    text = (tmp_path / "dec.md").read_text()
    assert "decision classifier" in text and "| swiftqueue |" in text
    with pytest.raises(ValueError, match="dagger"):
        train_command("dec", str(tmp_path), seeds=1, duration_s=5.0, epochs=1, log=lambda s: None,
                      data_policies=("decision",), target="decision")

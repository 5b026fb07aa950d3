"""Model files (save/load roundtrip, wrong version or shape named clearly), training lowers the loss, features."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from netkit.apps.swiftqueue.dataset import Windows
from netkit.apps.swiftqueue.features import (
    LEGACY, N_FEATURES, WINDOW, FeatureSpec, OnlineFeatures, inflight_counts, sliding_windows, window_features,
)
from netkit.apps.swiftqueue.model import (
    VERSION, ModelFileError, TorchPredictor, build, load_model, n_parameters, save_model,
)
from netkit.apps.swiftqueue.sender import Feedback
from netkit.apps.swiftqueue.train import fit

TINY = {"d_model": 16, "heads": 2, "layers": 1, "ff": 32}


def tiny_windows(n: int = 256, seed: int = 0) -> Windows:
    """Synthetic feedback: the L queue's delay follows a ramp the model can learn to extrapolate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + WINDOW) * 2000
    qd = 5000 + 4000 * np.sin(t / 40_000) + rng.integers(0, 300, len(t))
    raw = np.stack([t, t - 20_000 - qd, np.full(len(t), 1500), (np.arange(len(t)) % 4 != 0), 20_000 + qd], 1)
    raw = raw.astype(np.int64)
    w = sliding_windows(raw)
    now = raw[WINDOW - 1:, 0]
    x, base = window_features(w, now, np.full(len(now), 20_000))
    future = 5 + 4 * np.sin((now + 30_000) / 40_000)
    y = np.stack([future, np.full(len(now), 2.0)], 1).astype(np.float32)
    return Windows(x, base, y, np.zeros(len(y), int), np.arange(len(y)))


def test_default_transformer_is_about_100k_parameters():
    assert 80_000 <= n_parameters(build("transformer", {})) <= 130_000


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = build("transformer", TINY)
    path = tmp_path / "m.pt"
    save_model(path, m, "transformer", TINY, extra={"note": 1})
    back = load_model(path)
    w = tiny_windows(32)
    x, b = torch.from_numpy(w.x), torch.from_numpy(w.base)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x, b), back(x, b))
    assert back.meta["extra"] == {"note": 1}


def test_wrong_version_names_the_file(tmp_path):
    path = tmp_path / "old.pt"
    save_model(path, build("gru", {"hidden": 8}), "gru", {"hidden": 8})
    blob = torch.load(path, weights_only=True)
    blob["version"] = VERSION + 1
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match=r"old\.pt.*version"):
        load_model(path)


def test_wrong_shape_names_the_file(tmp_path):
    path = tmp_path / "shape.pt"
    save_model(path, build("transformer", TINY), "transformer", TINY)
    blob = torch.load(path, weights_only=True)
    blob["input_shape"] = [WINDOW * 2, N_FEATURES]
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match=r"shape\.pt.*input shape"):
        load_model(path)
    # weights of another size than the config says
    save_model(path, build("transformer", TINY), "transformer", {**TINY, "d_model": 32})
    with pytest.raises(ModelFileError, match=r"shape\.pt.*weights do not fit"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="junk.pt"):
        load_model(path)
    with pytest.raises(ModelFileError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")


def test_training_lowers_the_loss_seeded():
    w = tiny_windows(256)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build("transformer", TINY)
        losses.append(fit(m, w, epochs=6, seed=1, lr=3e-3, batch=32))
    assert losses[0] == losses[1]  # seeded: the same run twice
    assert losses[0][-1] < 0.5 * losses[0][0]


def test_online_predictor_matches_batched_features():
    torch.manual_seed(0)
    m = build("transformer", TINY).eval()
    w = tiny_windows(8)
    tp = TorchPredictor(m, infer_every_us=0)
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW + 3) * 2000
    raw = np.stack([t, t - 25_000, np.full(len(t), 1500), rng.integers(0, 2, len(t)),
                    20_000 + rng.integers(0, 5000, len(t))], 1).astype(np.int64)
    for r in raw:
        tp.observe(Feedback(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4])))
    online = tp.predict(int(raw[-1, 0]) + 500)
    x, base = window_features(raw[-WINDOW:][None], np.array([raw[-1, 0] + 500]), np.array([raw[:, 4].min()]))
    with torch.no_grad():
        batched = m(torch.from_numpy(x), torch.from_numpy(base))[0]
    assert online == pytest.approx((max(float(batched[0]), 0.0), max(float(batched[1]), 0.0)), rel=1e-6)
    assert w.x.shape[1:] == (WINDOW, N_FEATURES)


def test_a_prepared_answer_is_the_sends_own_and_spares_its_forward_pass(monkeypatch):
    """`prepare` at an ACK computes what the send at the expected time would: the send then runs no forward pass;
    feedback arriving in between makes the send infer itself, and a send due too soon is not speculated on."""
    torch.manual_seed(0)
    m = build("transformer", TINY).eval()
    samples = [Feedback(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]))
               for r in random_feedback(WINDOW + 6, seed=2)]
    inline, ahead = TorchPredictor(m, infer_every_us=0), TorchPredictor(m, infer_every_us=0)
    passes: list[int] = []
    forward = ahead._forward
    monkeypatch.setattr(ahead, "_forward", lambda now, prune=True: passes.append(now) or forward(now, prune))
    for s in samples[:-2]:
        inline.observe(s)
        ahead.observe(s)
    ack = samples[-3].ack_us
    ahead.prepare(ack, ack + 15_000)
    assert passes == [ack + 15_000]
    assert ahead.predict(ack + 15_000) == inline.predict(ack + 15_000)  # the same answer, no second pass
    assert passes == [ack + 15_000] and ahead.prepared_used == 1 and ahead.inferences == inline.inferences
    later = max(samples[-1].ack_us, ack + 15_000) + 10_000
    for pred in (inline, ahead):
        pred.observe(samples[-2])
    ahead.prepare(later - 600, later)  # due in under PREPARE_AHEAD_US: the send infers itself
    assert len(passes) == 1
    ahead.prepare(samples[-2].ack_us, later)
    assert len(passes) == 2
    for pred in (inline, ahead):
        pred.observe(samples[-1])  # feedback after the speculation: it no longer applies
    assert ahead.predict(later) == inline.predict(later)
    assert ahead.prepared_used == 1 and passes == [ack + 15_000, later, later]


def random_feedback(n: int, seed: int = 0) -> np.ndarray:
    """(n, 5) raw samples with both queues, irregular gaps and a minimum RTT that drops now and then."""
    rng = np.random.default_rng(seed)
    sent = np.cumsum(rng.integers(500, 30_000, n))
    ack = np.maximum.accumulate(sent + 20_000 + rng.integers(0, 40_000, n))  # ACKs arrive in time order
    rtt = ack - sent
    in_l = rng.random(n) < 0.7
    in_l[: n // 5] = True  # a stretch with no C sample: the carried C value falls back to the first sample
    return np.stack([ack, sent, np.full(n, 1500), in_l, rtt], 1).astype(np.int64)


@pytest.mark.parametrize("spec", [LEGACY, FeatureSpec(recent=8, blocks=3, block=4, staleness=True),
                                  FeatureSpec(recent=5, blocks=0, staleness=True)])
def test_online_features_equal_batched(spec):
    raw = random_feedback(3 * spec.history + 7)
    online = OnlineFeatures(spec)
    checked = 0
    for k, r in enumerate(raw):
        online.observe(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]))
        if k + 1 < spec.history:
            continue
        now = int(r[0]) + 700
        x, base = online.features(now)
        h = raw[k + 1 - spec.history:k + 1][None]
        bx, bbase = window_features(h, np.array([now]), np.array([raw[:k + 1, 4].min()]), spec)
        assert x.shape == (spec.tokens, spec.n_features)
        np.testing.assert_allclose(x, bx[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(base, bbase[0], rtol=1e-6, atol=1e-7)
        checked += 1
    assert checked == len(raw) - spec.history + 1


@pytest.mark.parametrize("kind,config", [("transformer", TINY), ("transformer", {}),
                                         ("transformer", {"activation": "relu"})])
def test_compiled_predictor_gives_the_modules_predictions(kind, config):
    """The TorchScript-frozen forward pass the sender runs predicts what the module predicts, ACK after ACK."""
    torch.manual_seed(3)
    spec = FeatureSpec(recent=8, blocks=2, block=4, staleness=True)
    m = build(kind, {**config, "window": spec.tokens, "n_features": spec.n_features}).eval()
    m.meta = {"spec": spec}
    fast, slow = TorchPredictor(m, infer_every_us=0), TorchPredictor(m, infer_every_us=0, compiled=False)
    raw = random_feedback(60, seed=5)
    got, want = [], []
    for r in raw:
        s = Feedback(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]))
        fast.observe(s)
        slow.observe(s)
        got.append(fast.predict(int(r[0]) + 300))
        want.append(slow.predict(int(r[0]) + 300))
    assert fast.inferences == len(raw) - spec.history + 1
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-5)


def test_committed_model_compiled_matches_module():
    """The same check on the committed weights, on the batched features of random histories."""
    from netkit.apps.swiftqueue.app import DEFAULT_MODEL
    from netkit.apps.swiftqueue.model import compile_for_inference, model_spec

    m = load_model(DEFAULT_MODEL)
    spec = model_spec(m)
    fast = compile_for_inference(m, spec)
    raw = random_feedback(spec.history + 40, seed=9)
    hist = sliding_windows(raw, spec.history)
    x, base = window_features(hist, hist[:, -1, 0] + 400, np.minimum.accumulate(raw[:, 4])[spec.history - 1:], spec)
    with torch.inference_mode():
        want = m(torch.from_numpy(x), torch.from_numpy(base)).numpy()
        got = np.concatenate([fast(torch.from_numpy(x[i:i + 1]), torch.from_numpy(base[i:i + 1])).numpy()
                              for i in range(len(x))])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_feature_spec_roundtrip_and_version1_files(tmp_path):
    spec = FeatureSpec(recent=4, blocks=2, block=3, staleness=True)
    cfg = {**TINY, "window": spec.tokens, "n_features": spec.n_features}
    path = tmp_path / "spec.pt"
    save_model(path, build("transformer", cfg), "transformer", cfg, spec=spec)
    assert load_model(path).meta["spec"] == spec
    with pytest.raises(ValueError, match="does not fit the feature spec"):
        save_model(path, build("transformer", TINY), "transformer", TINY, spec=spec)
    # a version-1 file (no feature spec) is read with the legacy spec
    save_model(path, build("transformer", TINY), "transformer", TINY)
    blob = torch.load(path, weights_only=True)
    blob["version"] = 1
    del blob["features"]
    torch.save(blob, path)
    assert load_model(path).meta["spec"] == LEGACY
    with pytest.raises(ValueError, match="recent >= 1"):
        FeatureSpec(recent=0)


def test_online_inflight_features_equal_batched():
    """The in-flight counts the sender keeps (sends minus acknowledgements, per queue) are the batched ones."""
    spec = FeatureSpec(recent=6, blocks=2, block=3, staleness=True, inflight=True)
    rng = np.random.default_rng(11)
    n = 400
    sent = np.cumsum(rng.integers(500, 20_000, n))
    ack = sent + 20_000 + rng.integers(0, 60_000, n)  # packets overtake each other: ACKs out of send order
    order = np.argsort(ack, kind="stable")
    ack = ack[order] + np.arange(n)  # strictly increasing ACK times
    sent = sent[order]
    in_l = rng.random(n) < 0.6
    raw = np.stack([ack, sent, np.full(n, 1500), in_l, ack - sent], 1).astype(np.int64)
    raw[:, 4] = raw[:, 0] - raw[:, 1]
    online = OnlineFeatures(spec)
    sends = sorted(zip(raw[:, 1].tolist(), raw[:, 3].tolist()))
    si = 0
    checked = 0
    busy = 0
    for k, r in enumerate(raw):
        now = int(r[0])
        while si < len(sends) and sends[si][0] < now:
            online.sent(sends[si][0], bool(sends[si][1]))
            si += 1
        online.observe(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]))
        if k + 1 < spec.history:
            continue
        # a look ahead (what `TorchPredictor.prepare` runs) gives the pruning query's counts and changes nothing
        assert online.inflight(now + 400_000, prune=False) == copy.deepcopy(online).inflight(now + 400_000)
        x, _ = online.features(now)
        fl = inflight_counts(raw, np.array([now]))
        assert tuple(fl[0]) == online.inflight(now)
        bx, _ = window_features(raw[k + 1 - spec.history:k + 1][None], np.array([now]),
                                np.array([raw[:k + 1, 4].min()]), spec, fl)
        np.testing.assert_allclose(x, bx[0], rtol=1e-6, atol=1e-7)
        checked += 1
        busy += fl[0].sum() > 0
    assert checked == n - spec.history + 1 and busy > checked // 2
    with pytest.raises(ValueError, match="in-flight"):
        window_features(raw[:spec.history][None], raw[spec.history - 1:spec.history, 0], raw[:1, 4], spec)


def test_train_command_is_reproducible_in_one_process(tmp_path, monkeypatch):
    """The same command twice gives the same weights for both models: the GRU's initial weights come from the
    training seed, not from the torch RNG state the first run (or the data simulation) left behind."""
    from netkit.apps.swiftqueue import scenario
    from netkit.apps.swiftqueue.train import train_command

    monkeypatch.setattr(scenario, "TRAIN_TRACES", ("traces/const-12mbps.trace",))
    monkeypatch.setattr(scenario, "TEST_TRACES", ("traces/steps-12-3-24-6.trace",))
    monkeypatch.setattr(scenario, "MIXES", ("bursts",))
    for run in ("a", "b"):
        train_command("m", str(tmp_path / run), seeds=1, duration_s=4.0, epochs=1, budget_min=2.0, log=lambda s: None)
        torch.rand(7)  # leave the global RNG somewhere else before the second run
    for name in ("m.pt", "m_gru.pt"):
        a, b = load_model(tmp_path / "a" / name), load_model(tmp_path / "b" / name)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb), (name, ka)

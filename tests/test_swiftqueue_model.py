"""Model files (save/load roundtrip, wrong version or shape named clearly), training lowers the loss, features."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from netkit.apps.swiftqueue.dataset import Windows
from netkit.apps.swiftqueue.features import N_FEATURES, WINDOW, sliding_windows, window_features
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

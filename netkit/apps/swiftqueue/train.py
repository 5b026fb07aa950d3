"""`netkit swiftqueue train`: simulate training and held-out data, fit the transformer and the GRU, write both
models and a model card.

Data: the SwiftQueue experiment (`scenario`) over the training traces and the
held-out test traces (split by trace: no test trace is simulated for training), both
traffic mixes, several seeds, the measured flow driven by one or more simple predictive
policies (`data_policies`: last value, EWMA; each switches queues from its own
predictions, so the feedback covers both queues the way the deployed policy's does).
Features: a `features.FeatureSpec` (recent samples at full resolution, older ones
aggregated in blocks, optional staleness features), stored in the model files; both
models (transformer and GRU) read the same tokens. Training: Adam,
Huber loss (delta 1 ms) on the L and C targets, one thread, seeded, for a fixed number
of epochs or a time budget, whichever ends first.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from netkit.apps.swiftqueue import scenario
from netkit.apps.swiftqueue.dataset import RunData, Windows, generate, windows
from netkit.apps.swiftqueue.decision import DEFAULT_MARGIN_MS, decision_labels, decision_metrics, decision_weights
from netkit.apps.swiftqueue.evaluate import error_metrics, fit_bias, model_predictions, simple_predictions
from netkit.apps.swiftqueue.features import FeatureSpec
from netkit.apps.swiftqueue.model import build, n_parameters, save_model

HUBER_DELTA_MS = 1.0
TARGET_TEXT = {
    "sojourn": "true L and C sojourn (ms) of a packet sent at each ACK, from DualPI2's per-packet hook",
    "lookahead": "time (ms) a packet sent at each ACK would take to leave the bottleneck in L and in C, replayed "
                 "from the simulated queues' state with the flow's own packets in them (lookahead.BottleneckView, "
                 "what the oracle decides on)",
    "bound": "per queue the larger of the true sojourn and the lookahead (ms) of a packet sent at each ACK (each "
             "misses only what would delay it further)",
    "decision": "the oracle's decision: 1 if, in the lookahead of each ACK (the simulated queues' state with the "
                "flow's own packets in them), a packet sent then would leave C at least the margin sooner than L, "
                "else 0 (decision.py); weighted BCE",
}


def _file_identity(path: str | None) -> str | None:
    """A model file as the card records it: its name and the start of its SHA-256, never the machine's path."""
    if path is None:
        return None
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return f"{Path(path).name} (sha256 {digest}...)"


def dagger_run(data_policies: tuple[str, ...], dagger_model: str | None) -> tuple[str | None, str | None]:
    """The DAgger data policy of a training run and the model file that drives it, checked before anything is
    simulated: "decision" needs a decision model in `dagger_model`; "swiftqueue" runs `dagger_model` if that is
    a latency model, else the committed one; a `dagger_model` needs the policy it drives in `data_policies`."""
    from netkit.apps.swiftqueue.app import model_path
    from netkit.apps.swiftqueue.model import is_decision_model, load_model

    if "decision" in data_policies and "swiftqueue" in data_policies:
        raise ValueError("--data-policies: decision and swiftqueue each run a --dagger-model of their own kind; "
                         "name one of them per training run")
    if "decision" in data_policies and dagger_model is None:
        raise ValueError("--dagger-model: the data policy `decision` needs one (a decision model)")
    is_decision = dagger_model is not None and is_decision_model(load_model(dagger_model))  # bad file: one line
    if "decision" in data_policies and not is_decision:
        raise ValueError(f"--dagger-model: {dagger_model} is not a decision model (--target decision), which the "
                         "data policy `decision` needs")
    if dagger_model is not None:
        drives = "decision" if is_decision else "swiftqueue"
        if drives not in data_policies:
            kind = "a decision model" if is_decision else "a latency model"
            raise ValueError(f"--dagger-model: {dagger_model} is {kind}; it drives the data policy `{drives}`, "
                             "which --data-policies does not name")
    if "decision" in data_policies:
        return "decision", dagger_model
    if "swiftqueue" in data_policies:
        return "swiftqueue", model_path("swiftqueue", dagger_model)
    return None, None


def fit(model: nn.Module, w: Windows, epochs: int, seed: int = 0, lr: float = 1e-3, batch: int = 256,
        budget_s: float | None = None, log: Callable[[str], None] | None = None,
        decision_margin_ms: float | None = None, weighted: bool = True) -> list[float]:
    """Train `model` on `w` in place; the mean loss of each epoch (over the shuffled batches): Huber on the two
    latencies, or with `decision_margin_ms` (a decision model, `w.y` the lookahead) BCE on the decision labels,
    each point weighted by the cost of a wrong decision there (`weighted`; normalised to mean 1)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    total_steps = epochs * max(1, -(-len(w) // batch))
    if total_steps >= 4:  # one-cycle needs a step of warm-up and of decay at least
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps,
                                                    pct_start=min(0.5, max(0.1, 2.0 / total_steps)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    x, base, y = torch.from_numpy(w.x), torch.from_numpy(w.base), torch.from_numpy(w.y)
    if decision_margin_ms is None:
        loss_fn: Callable[..., torch.Tensor] = nn.HuberLoss(delta=HUBER_DELTA_MS)
    else:
        labels = torch.from_numpy(decision_labels(w.y, decision_margin_ms))
        weights = decision_weights(w.y) if weighted else np.ones(len(w), dtype=np.float32)
        # the batch loop hands the loss its rows of y: carry label and weight there instead of the lookahead
        y = torch.stack([labels, torch.from_numpy(weights / weights.mean())], dim=1)
        bce = nn.BCEWithLogitsLoss(reduction="none")

        def loss_fn(out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return (bce(out[:, 0], yb[:, 0]) * yb[:, 1]).mean()
    history = []
    t0 = time.perf_counter()
    model.train()
    with torch.enable_grad():  # whatever grad mode the caller left set
        return _epochs(model, opt, sched, loss_fn, x, base, y, gen, epochs, batch, budget_s, log, history, t0)


def _epochs(model, opt, sched, loss_fn, x, base, y, gen, epochs, batch, budget_s, log, history, t0) -> list[float]:
    """The epoch loop of `fit` (runs with gradients enabled)."""
    n = len(y)
    for ep in range(epochs):
        order = torch.from_numpy(gen.permutation(n))
        losses = []
        for s in range(0, n, batch):
            b = order[s:s + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[b], base[b]), y[b])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
        if log is not None:
            log(f"  epoch {ep + 1}/{epochs}: loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f} s)")
        if budget_s is not None and time.perf_counter() - t0 > budget_s:
            break
    model.eval()
    return history


def model_probabilities(model: nn.Module, w: Windows, batch: int = 4096) -> np.ndarray:
    """(M,) a decision model's P(C faster by the margin) at the points of `w`."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(w), batch):
            out.append(torch.sigmoid(model(torch.from_numpy(w.x[s:s + batch]),
                                           torch.from_numpy(w.base[s:s + batch]))[:, 0]).numpy())
    return np.concatenate(out).astype(np.float64)


def evaluate_decisions(w_test: Windows, models: dict[str, nn.Module], margin_ms: float) -> dict[str, dict]:
    """Held-out decision metrics (`decision.decision_metrics`, threshold 0.5) of `models` and of the last-value
    rule (C when the last C feedback's queueing delay is `margin_ms` below the last L feedback's)."""
    last_rule = (w_test.base[:, 0] - w_test.base[:, 1] >= margin_ms).astype(np.float64)
    out = {"last": decision_metrics(last_rule, w_test.y, margin_ms)}
    for name, m in models.items():
        out[name] = decision_metrics(model_probabilities(m, w_test), w_test.y, margin_ms)
    return out


def evaluate_all(train_runs: list[RunData], w_train: Windows, test_runs: list[RunData], w_test: Windows,
                 models: dict[str, nn.Module]) -> tuple[dict[str, dict], dict[str, tuple[float, float]]]:
    """Held-out metrics of the simple predictors (bias fitted on training data) and of `models`."""
    out: dict[str, dict] = {}
    biases = {}
    for name in ("last", "ewma", "mean"):
        biases[name] = fit_bias(train_runs, w_train, name)
        out[name] = error_metrics(simple_predictions(test_runs, w_test, name, biases[name]), w_test)
    for name, m in models.items():
        out[name] = error_metrics(model_predictions(m, w_test), w_test)
    return out, biases


DEFAULT_SPEC = FeatureSpec(recent=16, blocks=12, block=8, staleness=True)


def train_command(name: str, out_dir: str, seeds: int = 3, duration_s: float = 30.0, epochs: int = 30,
                  budget_min: float = 8.0, seed: int = 0, log: Callable[[str], None] = print,
                  dropout: float = 0.0, spec: FeatureSpec = DEFAULT_SPEC,
                  data_policies: tuple[str, ...] = ("last",), activation: str = "relu",
                  lr: float = 1e-3, target: str = "sojourn", decision_margin_ms: float = DEFAULT_MARGIN_MS,
                  decision_weighted: bool = True, dagger_model: str | None = None,
                  dagger_threshold: float = 0.5, trace_windows: int = 1) -> dict[str, Any]:
    """Everything `netkit swiftqueue train` does; returns the model card's data (`dagger_model`: the model that
    drives a DAgger data policy: a decision model drives "decision", at `dagger_threshold`; a latency model
    drives "swiftqueue", which otherwise runs the committed latency model; `trace_windows`: see
    `dataset.generate`, for the training runs only)."""
    dagger_policy, dagger_model = dagger_run(data_policies, dagger_model)  # a wrong model: before anything runs
    torch.set_num_threads(1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_seeds = list(range(seeds))
    log(f"simulating training data: {len(scenario.TRAIN_TRACES)} traces x {len(scenario.MIXES)} mixes x {seeds} "
        f"seeds x policies {', '.join(data_policies)}")
    look = target in ("lookahead", "bound", "decision")
    decision = target == "decision"
    policy_flow = None
    if dagger_policy == "decision":
        policy_flow = {"decision": {"model": dagger_model, "decision_threshold": dagger_threshold}}
    elif dagger_policy == "swiftqueue":
        policy_flow = {"swiftqueue": {"model": dagger_model}}
    train_runs = generate(list(scenario.TRAIN_TRACES), train_seeds, list(scenario.MIXES), list(data_policies),
                          duration_s=duration_s, progress=log, record_lookahead=look, policy_flow=policy_flow,
                          trace_windows=trace_windows)
    # a decision model is scored on the states it is trained for (its first data policy's); latency models on `last`
    test_policy = data_policies[0] if decision and data_policies[0] != "decision" else "last"
    log(f"simulating held-out data (test traces, policy {test_policy})")
    test_runs = generate(list(scenario.TEST_TRACES), [100], list(scenario.MIXES), test_policy, duration_s=duration_s,
                         progress=log, record_lookahead=look)
    w_train, w_test = windows(train_runs, spec, target=target), windows(test_runs, spec, target=target)
    sim_s = time.perf_counter() - t0
    models, history, configs = {}, {}, {}
    t_fit = time.perf_counter()
    # the GRU first, within half the budget; the transformer gets what is left (the GRU is several times faster)
    for kind, label in (("gru", "lstm"), ("transformer", "swiftqueue")):
        configs[label] = {"window": spec.tokens, "n_features": spec.n_features}
        if decision:
            configs[label]["decision"] = True
        if kind == "transformer":
            configs[label]["activation"] = activation
            if dropout:
                configs[label]["dropout"] = dropout
        # the initial weights from the training seed too, not from whatever the simulation left in torch's RNG
        # (the transformer's were already: the GRU's training draws nothing from it)
        torch.manual_seed(seed)
        m = build(kind, configs[label])
        budget_s = budget_min * 60 / 2 if kind == "gru" else budget_min * 60 - (time.perf_counter() - t_fit)
        log(f"training {kind} ({n_parameters(m)} parameters) on {len(w_train)} points, budget {budget_s:.0f} s")
        history[label] = fit(m, w_train, epochs, seed=seed, lr=lr, budget_s=budget_s, log=log,
                             decision_margin_ms=decision_margin_ms if decision else None, weighted=decision_weighted)
        models[label] = m
    models = {"swiftqueue": models["swiftqueue"], "lstm": models["lstm"]}
    history = {"swiftqueue": history["swiftqueue"], "lstm": history["lstm"]}
    other: dict[str, Any] = {}
    if decision:
        metrics, biases = evaluate_decisions(w_test, models, decision_margin_ms), {}
        other = {"decision_margin_ms": decision_margin_ms, "decision_weighted": decision_weighted}
    else:
        metrics, biases = evaluate_all(train_runs, w_train, test_runs, w_test, models)
    if look and not decision:  # the simple predictors' bias for the true sojourns too (the bench scores on both)
        w_soj = windows(train_runs, spec, target="sojourn")
        other["simple_bias_sojourn_ms"] = {k: fit_bias(train_runs, w_soj, k) for k in ("last", "ewma", "mean")}
    card = {
        "name": name,
        "data": {"train_traces": list(scenario.TRAIN_TRACES), "test_traces": list(scenario.TEST_TRACES),
                 "mixes": list(scenario.MIXES), "train_seeds": train_seeds, "test_seeds": [100],
                 "trace_windows": trace_windows,
                 "data_policies": list(data_policies), "test_policy": test_policy,
                 "positive_share_train": float(decision_labels(w_train.y, decision_margin_ms).mean()) if decision
                 else None, "dagger_policy": dagger_policy, "dagger_model": _file_identity(dagger_model),
                 "dagger_threshold": dagger_threshold if dagger_policy == "decision" else None,
                 "duration_s": duration_s, "train_points": len(w_train), "test_points": len(w_test),
                 "feature_spec": spec.to_dict(), "history": spec.history, "tokens": spec.tokens,
                 "features": list(spec.names),
                 "target": TARGET_TEXT[target], "target_kind": target},
        "hyperparameters": {"epochs": epochs, "epochs_run": {k: len(v) for k, v in history.items()},
                            "optimizer": f"AdamW lr {lr:g} wd 1e-4, one-cycle", "batch": 256,
                            "loss": (f"BCE ({'weighted by |L - C|' if decision_weighted else 'unweighted'}), "
                                     f"margin {decision_margin_ms:g} ms" if decision
                                     else f"Huber delta {HUBER_DELTA_MS} ms"), "seed": seed, "threads": 1,
                            "budget_min": budget_min, "configs": configs},
        "parameters": {k: n_parameters(m) for k, m in models.items()},
        "loss_history": history,
        "simple_bias_ms": biases,
        "held_out": metrics,
        "wall_s": {"simulation": round(sim_s, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    save_model(out / f"{name}.pt", models["swiftqueue"], "transformer", configs["swiftqueue"],
               extra={"card": f"{name}.md", "simple_bias_ms": biases, "target": target, **other}, spec=spec)
    save_model(out / f"{name}_gru.pt", models["lstm"], "gru", configs["lstm"],
               extra={"card": f"{name}.md", "target": target, **(other if decision else {})}, spec=spec)
    tmp = out / f"{name}.json.tmp"
    tmp.write_text(json.dumps(card, indent=2))
    os.replace(tmp, out / f"{name}.json")
    (out / f"{name}.md").write_text(model_card_text(card))
    return card


def _spec_text(spec: dict[str, Any]) -> str:
    s = FeatureSpec.from_dict(spec)
    agg = f", the {s.blocks * s.block} before them in {s.blocks} blocks of {s.block} (mean)" if s.blocks else ""
    return f"the newest {s.recent} one token each{agg}"


def _decision_card_rows(card: dict[str, Any]) -> list[str]:
    """The held-out table of a decision model's card."""
    rows = [f"Decisions at threshold 0.5 on the held-out points (policy {card['data']['test_policy']}); gain: "
            "mean ms a packet sent at each point would save by following the decision rather than staying in L "
            "(the oracle's is the bound).", "",
            "| decider | AUC | precision | recall | to C | positives | gain ms/point | oracle gain ms/point |",
            "|---|---|---|---|---|---|---|---|"]
    for k, m in card["held_out"].items():
        rows.append(f"| {k} | {m['auc']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | {100 * m['to_c_share']:.1f}% "
                    f"| {100 * m['positive_share']:.1f}% | {m['gain_ms_per_point']:+.3f} | "
                    f"{m['oracle_gain_ms_per_point']:.3f} |")
    return rows + ["", f"Wall time: {card['wall_s']}", ""]


def model_card_text(card: dict[str, Any]) -> str:
    """The model card in Markdown."""
    d, h = card["data"], card["hyperparameters"]
    decision = d.get("target_kind") == "decision"
    what = "decision classifier" if decision else "latency predictor"
    windows = d.get("trace_windows", 1)
    entered = (f"; seed i enters each trace at window i mod {windows} of {windows} equal parts"
               if windows > 1 else "")
    lines = [f"# Model card: {card['name']} (SwiftQueue {what})", "",
             "Produced by `netkit swiftqueue train` (netkit/apps/swiftqueue/train.py); numbers below are "
             "written by that run, not by hand.", "",
             "## Data", "",
             f"- simulated DualPI2 bottleneck (scenario.py), traffic mixes {', '.join(d['mixes'])}, "
             f"{d['duration_s']:g} s per run",
             f"- training traces: {', '.join(d['train_traces'])} (seeds {d['train_seeds']}{entered}; the measured flow "
             f"driven by the policies {', '.join(d.get('data_policies', ['last']))})",
             f"- held-out test traces (never in training): {', '.join(d['test_traces'])} (seed {d['test_seeds']})",
             f"- {d['train_points']} training and {d['test_points']} held-out prediction points; history "
             f"{d['history']} samples as {d['tokens']} tokens ({_spec_text(d['feature_spec'])}); features "
             f"{', '.join(d['features'])}",
             f"- target: {d['target']}"]
    if d.get("dagger_model"):
        at = f" at threshold {d['dagger_threshold']:g}" if d.get("dagger_threshold") is not None else ""
        lines.append(f"- the runs of policy {d.get('dagger_policy', 'decision')} (DAgger) were driven by "
                     f"{d['dagger_model']}{at}")
    lines += ["", "## Models and hyperparameters", "",
              f"- {card['name']}.pt: transformer, {card['parameters']['swiftqueue']} parameters; "
              f"{card['name']}_gru.pt: GRU baseline, {card['parameters']['lstm']} parameters",
              f"- {h['optimizer']}, batch {h['batch']}, {h['loss']}, epochs {h['epochs_run']}, seed {h['seed']}, "
              f"{h['threads']} thread"]
    if not decision:
        lines.append(f"- simple predictors' bias (L, C ms, median fitted on training data): {card['simple_bias_ms']}")
    lines += ["", "## Held-out metrics (test traces)", ""]
    if decision:
        return "\n".join(lines + _decision_card_rows(card))
    lines += ["| predictor | MAE ms | RMSE ms | p99 abs err ms | sharp MAE ms |", "|---|---|---|---|---|"]
    for k, m in card["held_out"].items():
        lines.append(f"| {k} | {m['mae_ms']:.3f} | {m['rmse_ms']:.3f} | {m['p99_abs_err_ms']:.2f} | "
                     f"{m['sharp_mae_ms']:.3f} |")
    simple = min(card["held_out"][k]["mae_ms"] for k in ("last", "ewma", "mean"))
    tm = card["held_out"]["swiftqueue"]["mae_ms"]
    lines += ["", f"Transformer MAE vs best simple baseline: {100 * (1 - tm / simple):.1f}% lower "
                  f"(target >= 45%); vs GRU: {card['held_out']['lstm']['mae_ms']:.3f} ms.",
              f"Wall time: {card['wall_s']}", ""]
    return "\n".join(lines)

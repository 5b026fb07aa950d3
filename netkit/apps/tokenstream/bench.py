"""`tokenstream bench`: a sweep of schemes over traces, loss models, loss rates and seeds in the simulator.

A front end of `netkit sweep`: the flags become one `tokenstream` experiment and
its grid (`sweep_of`), the sweep writes the record of every command, and the
bench adds results.json (per-scheme means, Eloquent's reductions, breakdowns).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

CONSTANT_TRACE = "constant:12"

from netkit.apps.tokenstream.schemes import BASELINES, SCHEMES
from netkit.net.direction import LOSS_MODELS, get_trace
from netkit.apps.tokenstream.sources import read_timing_trace, synthetic
from netkit.apps.tokenstream.tokens import TokenSchedule

# What results.json reports per scheme, averaged over every point of the sweep.
SUMMARY_METRICS = ("stall_ratio", "ttft_ms", "token_delay_ms_p50", "token_delay_ms_p95", "token_delay_ms_p99",
                   "bytes_overhead", "delivered_fraction", "complete", "stall_ratio_rendered")
PAPER_REDUCTIONS = {"retransmit": 0.710, "duplicate": 0.316}


@dataclass
class BenchConfig:
    """The sweep: every scheme on every (trace, loss model, loss rate, seed) point."""

    traces: list[str] = field(default_factory=lambda: [CONSTANT_TRACE])
    losses: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.15, 0.2])
    loss_models: list[str] = field(default_factory=lambda: list(LOSS_MODELS))
    burst: float = 3.0
    seeds: int = 3
    schemes: list[str] = field(default_factory=lambda: list(SCHEMES))
    copies: int = 2
    delay_ms: float = 50.0
    tokens: int = 300
    rate_tps: float = 30.0
    jitter_ms: float = 10.0
    first_token_ms: float = 0.0
    token_trace: str | None = None
    jobs: int = 1

    def validate(self) -> None:
        """Raise ValueError naming the first bad option."""
        if not self.traces:
            raise ValueError("--trace: at least one trace is needed")
        for t in self.traces:
            try:
                get_trace(t)  # fails early with the trace loader's message
            except ValueError as exc:
                raise ValueError(f"--trace {t!r}: {exc}") from None
        if not self.losses:
            raise ValueError("--loss: at least one loss rate is needed")
        for p in self.losses:
            if not 0 <= p < 1:
                raise ValueError(f"--loss must be a probability in [0, 1), got {p}")
        for m in self.loss_models:
            if m not in LOSS_MODELS:
                raise ValueError(f"--loss-model must be one of {', '.join(LOSS_MODELS)}, got {m!r}")
        if not self.loss_models:
            raise ValueError("--loss-model: at least one loss model is needed")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        for s in self.schemes:
            if s not in SCHEMES:
                raise ValueError(f"--scheme must be one of {', '.join(SCHEMES)}, got {s!r}")
        if "eloquent" not in self.schemes:
            raise ValueError("--scheme: eloquent must be among the schemes (reductions are relative to it)")
        if self.copies < 2:
            raise ValueError(f"--copies (duplicate's k) must be >= 2, got {self.copies}")
        if self.delay_ms < 0:
            raise ValueError(f"--delay must be >= 0 ms, got {self.delay_ms}")
        if self.burst < 1:
            raise ValueError(f"--loss-burst must be >= 1 packet, got {self.burst}")
        if self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs}")
        self.schedule(0)

    def schedule(self, seed: int) -> TokenSchedule:
        """The response streamed at `seed`: the timing trace if given, else the synthetic source."""
        if self.token_trace:
            return read_timing_trace(self.token_trace, seed=seed)
        return synthetic(self.tokens, self.rate_tps, self.jitter_ms, self.first_token_ms, seed=seed)


def sweep_of(cfg: BenchConfig):
    """The bench as a sweep of one `tokenstream` experiment: traces x loss models x losses x schemes x seeds."""
    from netkit.experiment.sweep import Sweep

    sched = cfg.schedule(0)
    app = {"module": "tokenstream", "copies": cfg.copies, "tokens": cfg.tokens, "rate_tps": cfg.rate_tps,
           "jitter_ms": cfg.jitter_ms, "first_token_ms": cfg.first_token_ms}
    if cfg.token_trace:
        app["token_trace"] = cfg.token_trace
    from netkit.apps.tokenstream.app import stream_duration_s

    data = {"name": "tokenstream-bench", "duration_s": stream_duration_s(sched, cfg.traces),
            "links": {"down": {"trace": cfg.traces[0], "delay_ms": cfg.delay_ms, "loss_burst": cfg.burst},
                      "up": {"delay_ms": cfg.delay_ms}}, "apps": [app]}
    axes = [[{"links.down.trace": t} for t in cfg.traces], [{"links.down.loss_model": m} for m in cfg.loss_models],
            [{"links.down.loss": p} for p in cfg.losses], [{"apps.0.scheme": s} for s in cfg.schemes]]
    return Sweep(data, "tokenstream bench", ".", axes, list(range(cfg.seeds)))


def rows_of(runs: list[dict]) -> list[dict]:
    """The bench's rows (scheme, trace, loss model, loss, seed and the stream's metrics) from sweep records."""
    rows = []
    for r in runs:
        if r["status"] != "ok":
            raise RuntimeError(f"run {r['run_id']} {r['params']} failed: {r.get('message')}")
        p = r["params"]
        rows.append({"scheme": p["apps.0.scheme"], "trace": p["links.down.trace"], "loss": p["links.down.loss"],
                     "loss_model": p["links.down.loss_model"], "seed": p["seed"],
                     **{k.split(".", 1)[1]: v for k, v in r["metrics"].items() if k.startswith("tokenstream.")}})
    return rows


def run_bench(cfg: BenchConfig, out: str, force: bool = False, command: str = "netkit tokenstream bench",
              progress: bool = True, after: Callable[[object, dict], None] | None = None) -> dict:
    """Run the sweep into `out` (the record of every command, plus results.json from `after`); the results."""
    import json
    from pathlib import Path

    from netkit.experiment.sweep import run_sweep

    cfg.validate()
    holder: dict = {}

    def finish(work: Path, summary: dict) -> None:
        runs = [json.loads(line) for line in (work / "runs.jsonl").read_text().splitlines() if line.strip()]
        holder["results"] = summarize(cfg, rows_of(runs))
        if after is not None:
            after(work, holder["results"])

    run_sweep(sweep_of(cfg), out, jobs=cfg.jobs, force=force, command=command, progress=progress, after=finish,
              keep_partial=False)  # no --resume here: an interrupted bench leaves nothing
    return holder["results"]


def _mean(values: list[float]) -> float:
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else math.nan


def scheme_means(rows: list[dict], schemes: list[str]) -> dict[str, dict]:
    """Mean of each summary metric per scheme over `rows`."""
    out = {}
    for s in schemes:
        mine = [r for r in rows if r["scheme"] == s]
        out[s] = {m: _mean([r[m] for r in mine]) for m in SUMMARY_METRICS}
        out[s]["runs"] = len(mine)
    return out


def reductions(means: dict[str, dict]) -> dict[str, float]:
    """Eloquent's relative stall-ratio reduction against each baseline present: 1 - eloquent / baseline."""
    e = means["eloquent"]["stall_ratio"]
    out = {}
    for b in BASELINES:
        if b in means:
            base = means[b]["stall_ratio"]
            out[b] = 1 - e / base if base > 0 else math.nan
    return out


def excess_stall(rows: list[dict], schemes: list[str], models: list[str]) -> dict | None:
    """Loss-induced stall: each lossy run's stall ratio minus the same trace, seed and scheme's at zero loss.

    The zero-loss stall (link outages in the traces) is common to every scheme; taking it
    out isolates what each scheme does about loss. None when the sweep has no zero-loss point.
    """
    base = {(r["trace"], r["seed"], r["scheme"]): r["stall_ratio"] for r in rows if r["loss"] == 0}
    if not base:
        return None
    out: dict = {}
    for label, keep in [("all", lambda r: True)] + [(m, lambda r, m=m: r["loss_model"] == m) for m in models]:
        means = {}
        for s in schemes:
            vals = [r["stall_ratio"] - base[(r["trace"], r["seed"], s)] for r in rows
                    if r["scheme"] == s and r["loss"] > 0 and keep(r)]
            means[s] = {"stall_ratio": _mean(vals)}
        out[label] = {"excess_stall_ratio": {s: means[s]["stall_ratio"] for s in schemes},
                      "reductions": reductions(means)}
    return out


def summarize(cfg: BenchConfig, rows: list[dict]) -> dict:
    """results.json: per-scheme means at the top level, then reductions, breakdowns, the sweep and every run."""
    means = scheme_means(rows, cfg.schemes)
    breakdown = []
    for model in cfg.loss_models:
        for loss in cfg.losses:
            sub = [r for r in rows if r["loss_model"] == model and r["loss"] == loss]
            m = scheme_means(sub, cfg.schemes)
            breakdown.append({"loss_model": model, "loss": loss,
                              "stall_ratio": {s: m[s]["stall_ratio"] for s in cfg.schemes},
                              "bytes_overhead": {s: m[s]["bytes_overhead"] for s in cfg.schemes},
                              "reductions": reductions(m)})
    by_trace = []
    for trace in cfg.traces:
        m = scheme_means([r for r in rows if r["trace"] == trace], cfg.schemes)
        by_trace.append({"trace": trace, "stall_ratio": {s: m[s]["stall_ratio"] for s in cfg.schemes},
                         "reductions": reductions(m)})
    return {
        **means,
        "reductions": reductions(means),
        "paper_reductions": PAPER_REDUCTIONS,
        "by_loss": breakdown,
        "by_trace": by_trace,
        "excess": excess_stall(rows, cfg.schemes, cfg.loss_models),
        "sweep": asdict(cfg),
        "runs": rows,
    }

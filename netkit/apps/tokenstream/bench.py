"""`tokenstream bench`: a sweep of schemes over traces, loss models, loss rates and seeds in the simulator."""
from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

from netkit.apps.tokenstream.path import CONSTANT_TRACE, LOSS_MODELS, PathConfig, get_trace
from netkit.apps.tokenstream.schemes import BASELINES, SCHEMES
from netkit.apps.tokenstream.simrun import simulate
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
            get_trace(t)  # fails early with the trace loader's message
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
            raise ValueError(f"--burst must be >= 1 packet, got {self.burst}")
        if self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs}")
        self.schedule(0)

    def schedule(self, seed: int) -> TokenSchedule:
        """The response streamed at `seed`: the timing trace if given, else the synthetic source."""
        if self.token_trace:
            return read_timing_trace(self.token_trace, seed=seed)
        return synthetic(self.tokens, self.rate_tps, self.jitter_ms, self.first_token_ms, seed=seed)

    def points(self) -> Iterator[tuple[str, PathConfig, int]]:
        """Every (scheme, path, seed) of the sweep."""
        for trace in self.traces:
            for model in self.loss_models:
                for loss in self.losses:
                    path = PathConfig(trace=trace, delay_ms=self.delay_ms, loss=loss, loss_model=model,
                                      burst=self.burst)
                    for seed in range(self.seeds):
                        for scheme in self.schemes:
                            yield scheme, path, seed


def _run_point(args: tuple[BenchConfig, str, PathConfig, int]) -> dict:
    cfg, scheme, path, seed = args
    return simulate(scheme, cfg.schedule(seed), path, seed, cfg.copies).row()


def run_bench(cfg: BenchConfig, progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the sweep and return its results (per-scheme means, reductions, breakdowns and every run)."""
    cfg.validate()
    tasks = [(cfg, scheme, path, seed) for scheme, path, seed in cfg.points()]
    rows: list[dict] = []
    if cfg.jobs > 1:
        with ProcessPoolExecutor(cfg.jobs) as pool:
            for row in pool.map(_run_point, tasks, chunksize=8):
                rows.append(row)
                if progress:
                    progress(len(rows), len(tasks))
    else:
        for task in tasks:
            rows.append(_run_point(task))
            if progress:
                progress(len(rows), len(tasks))
    return summarize(cfg, rows)


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

"""Synthetic trace generators: constant rate, step schedule, on/off, seeded random walk and Markov chain."""
from __future__ import annotations

import random

from netkit.trace.model import Trace, TraceError
from netkit.trace.throughput import rate_segments_to_trace


def constant(mbps: float, duration_s: float = 10.0) -> Trace:
    """A constant-rate trace (e.g. 12 Mbit/s = 997 opportunities per second of 1504 bytes)."""
    _check_positive("mbps", mbps)
    _check_positive("duration_s", duration_s)
    return rate_segments_to_trace([(duration_s * 1000, mbps)], source=f"constant:{mbps}Mbps")


def steps(schedule: list[tuple[float, float]]) -> Trace:
    """A step trace from `(duration_s, mbps)` pairs, each rate held for its duration."""
    if not schedule:
        raise TraceError("steps: schedule is empty; expected (duration_s, mbps) pairs")
    for i, (dur, mbps) in enumerate(schedule):
        if dur <= 0 or mbps < 0:
            raise TraceError(f"steps: step {i + 1} needs duration_s > 0 and mbps >= 0, got ({dur}, {mbps})")
    return rate_segments_to_trace([(d * 1000, r) for d, r in schedule], source="steps")


def on_off(mbps: float, on_s: float, off_s: float, cycles: int = 5) -> Trace:
    """Alternating `on_s` seconds at `mbps` and `off_s` seconds of outage."""
    _check_positive("mbps", mbps)
    _check_positive("on_s", on_s)
    if off_s < 0 or cycles < 1:
        raise TraceError(f"on_off: need off_s >= 0 and cycles >= 1, got off_s={off_s}, cycles={cycles}")
    return rate_segments_to_trace([(on_s * 1000, mbps), (off_s * 1000, 0.0)] * cycles, source="onoff")


def random_walk(
    mean_mbps: float, duration_s: float = 60.0, step_s: float = 1.0, sigma: float = 0.2,
    min_mbps: float = 0.5, max_mbps: float | None = None, seed: int = 0,
) -> Trace:
    """A seeded multiplicative random walk of the rate, pulled back toward `mean_mbps`."""
    _check_positive("mean_mbps", mean_mbps)
    _check_positive("duration_s", duration_s)
    _check_positive("step_s", step_s)
    rng = random.Random(seed)
    hi = max_mbps if max_mbps is not None else 4 * mean_mbps
    rate = mean_mbps
    segments = []
    for _ in range(max(1, round(duration_s / step_s))):
        segments.append((step_s * 1000, rate))
        # log-space step with mean reversion keeps the walk around its mean
        drift = 0.1 * (mean_mbps - rate) / mean_mbps
        rate = min(hi, max(min_mbps, rate * (1 + drift + rng.gauss(0, sigma))))
    return rate_segments_to_trace(segments, source=f"randomwalk:{mean_mbps}Mbps:seed{seed}")


def markov(
    states_mbps: list[float], stay_prob: float = 0.9, duration_s: float = 60.0, step_s: float = 0.5, seed: int = 0,
) -> Trace:
    """A seeded Markov chain over rate states: each step stays with `stay_prob`, else jumps to a neighbour."""
    if not states_mbps or any(r < 0 for r in states_mbps):
        raise TraceError(f"markov: states must be a non-empty list of rates >= 0, got {states_mbps}")
    if not 0 <= stay_prob <= 1:
        raise TraceError(f"markov: stay_prob must be in [0, 1], got {stay_prob}")
    rng = random.Random(seed)
    state = len(states_mbps) // 2
    segments = []
    for _ in range(max(1, round(duration_s / step_s))):
        segments.append((step_s * 1000, states_mbps[state]))
        if rng.random() >= stay_prob and len(states_mbps) > 1:
            state = min(len(states_mbps) - 1, max(0, state + rng.choice((-1, 1))))
    return rate_segments_to_trace(segments, source=f"markov:seed{seed}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise TraceError(f"{name} must be > 0, got {value}")

"""The SwiftQueue experiment: one DualPI2 bottleneck, the measured flow, and cross traffic that moves both queues.

    server --(trace, 10 ms, DualPI2)--> client,   10 ms back
    apps: swiftqueue (the measured Prague flow, 0.6 Mbit/s), Prague bulk, on/off ECT(1) bursts
          (unresponsive L4S sender, 10 Mbit/s while on), classic CBR 0.2 Mbit/s; mix "mixed" adds Cubic bulk

`experiment(trace, seed, ...)` builds the experiment table (the same keys as
`emulation/swiftqueue.toml`) for the experiment layer's `parse_experiment`. The
train/test split is by trace (`TRAIN_TRACES`, `TEST_TRACES`): real Mahimahi
recordings found through `netkit.trace.locate` and synthetic ones from `traces/`.
"""
from __future__ import annotations

import os
from typing import Any

from netkit.net.direction import get_trace
from netkit.trace.locate import REPO_ROOT, find_trace

TRAIN_TRACES = ("ATT-LTE-driving.down", "TMobile-LTE-driving.down", "traces/randomwalk-6mbps-seed1.trace",
                "traces/const-12mbps.trace")
TEST_TRACES = ("TMobile-LTE-short.down", "Verizon-LTE-short.down", "traces/steps-12-3-24-6.trace")


def resolve_trace(name: str) -> str:
    """A trace name as a path: `traces/...` in the repository, `constant:N`, a path, or a real trace by name."""
    if name.startswith("constant:") or os.path.exists(name):
        return name
    local = REPO_ROOT / name
    if local.exists():
        return str(local)
    found = find_trace(name)
    if found is None:
        raise ValueError(f"trace {name!r} not found (set NETKIT_TRACES or put the traces in ../shared/traces)")
    return str(found)


MIXES = ("bursts", "mixed")


def cross_traffic(mix: str, burst_mbps: float) -> list[dict[str, Any]]:
    """The competing apps of a traffic mix.

    bursts: a Prague bulk flow, on/off ECT(1) bursts and a classic CBR stream (the C queue stays light);
    mixed: the same plus a Cubic bulk flow that keeps the C queue at DualPI2's 15 ms target.
    """
    if mix not in MIXES:
        raise ValueError(f"unknown traffic mix {mix!r}; expected one of {', '.join(MIXES)}")
    apps = [
        {"module": "bulk", "name": "prague", "cc": "prague"},
        {"module": "swiftqueue-onoff", "name": "bursts", "rate_mbps": burst_mbps, "on_ms": 300, "off_ms": 1500},
        {"module": "cbr", "name": "cbr", "rate_mbps": 0.2},
    ]
    if mix == "mixed":
        apps.insert(1, {"module": "bulk", "name": "cubic", "cc": "cubic"})
    return apps


def window_start_s(trace: str, window: int, windows: int) -> int:
    """Where window `window` of `windows` equal parts of a trace begins, in whole seconds (0 for window 0)."""
    if not 0 <= window < windows:
        raise ValueError(f"window {window} is not one of {windows}")
    return get_trace(resolve_trace(trace)).period_ms * window // windows // 1000


def experiment(trace: str, seed: int, policy: str = "l4s", duration_s: float = 30.0, warmup_s: float = 3.0,
               rate_mbps: float = 0.6, burst_mbps: float = 10.0, mode: str = "sim", mix: str = "bursts",
               trace_start_s: float = 0.0, **flow: Any) -> dict[str, Any]:
    """The experiment table for one trace, seed and policy (extra keys go to the measured flow's entry;
    `trace_start_s`: enter the trace that far into it)."""
    sq = {"module": "swiftqueue", "name": "flow", "policy": policy, "rate_mbps": rate_mbps, **flow}
    down: dict[str, Any] = {"trace": resolve_trace(trace), "delay_ms": 10, "queue": "dualpi2"}
    if trace_start_s:
        down["trace_start_s"] = trace_start_s
    return {
        "name": "swiftqueue", "duration_s": duration_s, "warmup_s": warmup_s, "seed": seed, "mode": mode,
        "topology": {"kind": "path"},
        "links": {"down": down, "up": {"delay_ms": 10}},
        "apps": [sq] + cross_traffic(mix, burst_mbps),
    }

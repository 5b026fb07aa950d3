"""The same SwiftQueue experiment in the simulator and live (real UDP through the live DualPI2 link, ECN per
packet via IP_TOS), through the experiment layer's runner; the numbers the agreement check compares."""
from __future__ import annotations

from typing import Any

from netkit.apps.swiftqueue import scenario


def emu_unavailable() -> str | None:
    """Why live runs cannot work here (not root, no TUN, ...), or None."""
    try:
        from netkit.emu.testing import skip_reason
    except ImportError as exc:
        return f"netkit.emu is not available: {exc}"
    return skip_reason()


def sim_and_live(trace: str, policy: str, seed: int = 200, duration_s: float = 20.0, **flow: Any) -> dict:
    """{"sim": metrics, "live": metrics} of the measured flow for one policy (same experiment and seed), and under
    "delays_ms" each driver's one-way delays of the measured flow's packets after warm-up (to pool over seeds)."""
    from netkit.experiment.runner import run
    from netkit.experiment.spec import parse_experiment

    out: dict[str, Any] = {"delays_ms": {}}
    for mode in ("sim", "emu"):
        name = "live" if mode == "emu" else "sim"
        exp = parse_experiment(scenario.experiment(trace, seed, policy, duration_s=duration_s, mode=mode, **flow))
        result = run(exp)
        out[name] = {k[len("flow."):]: v for k, v in result.metrics.items() if k.startswith("flow.")}
        out["delays_ms"][name] = result.apps[0].delays_ms()
    return out

"""`make demo` part: one 3-party meeting through the P4 SFU and the software SFU, one receiver behind 1 Mbit/s."""
from __future__ import annotations

from pathlib import Path

from netkit.experiment.output import write_json


def demo_part(out: Path) -> list[str]:
    """Run the meeting with both SFUs; write summary.json; return the findings."""
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings

    out.mkdir(parents=True, exist_ok=True)
    plan = MeetingPlan(participants=3, traces=("constant:10", "constant:10", "constant:1"), duration_s=6)
    sfus = {name: run_meetings(plan, name) for name in ("scallop", "software")}
    write_json(out / "summary.json", {"sfus": sfus})
    lines = []
    for name, s in sfus.items():
        low = [r["fps"] for r in s["receivers"] if r["trace"] == "constant:1"]
        down = next((c["t_s"] for c in s["layer_changes"]), None)
        lines.append(f"sfu {name}: fps p50 {s['fps_p50']:.1f}, constrained receiver {min(low):.1f} fps "
                     f"(moved down at {down} s), control plane {s['cpu_packets_fraction'] * 100:.2f}% of packets, "
                     f"forwarding p50 {s['forward_latency_ms_p50'] * 1000:.0f} us, seq gaps {s['seq_gaps']}")
    return lines

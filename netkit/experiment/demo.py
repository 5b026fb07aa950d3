"""The experiments part of `make demo`: an example experiment file swept over loss and seeds, with its record."""
from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "emulation" / "bulk_cbr.toml"


def demo_part(out: Path) -> list[str]:
    """`netkit sweep emulation/bulk_cbr.toml --grid links.down.loss=0,0.01,0.02 --seeds 2` (10 s runs) into `out`."""
    from netkit.experiment.plots import plot_sweep
    from netkit.experiment.spec import read_toml
    from netkit.experiment.sweep import Sweep, run_sweep

    data = read_toml(EXAMPLE)
    data["duration_s"] = 10
    sweep = Sweep(data, str(EXAMPLE), str(EXAMPLE.parent), [[{"links.down.loss": p} for p in (0.0, 0.01, 0.02)]],
                  [1, 2])

    def plot(work: Path, summary: dict) -> None:
        plot_sweep(work / "sweep.png", summary, ["bulk.throughput_mbps", "delay_ms_p95", "loss_rate"])

    summary = run_sweep(sweep, out, jobs=2, force=True, command="netkit demo (experiments)", progress=False,
                        after=plot)
    lines = [f"{summary['runs']} runs of {EXAMPLE.name} ({summary['failed']} failed), 3 loss rates x 2 seeds:"]
    for p in summary["points"]:
        m = p["metrics"]
        lines.append(f"    loss {p['params']['links.down.loss']:g}: Cubic {m['bulk.throughput_mbps']['mean']:.2f} Mbit/s, "
                     f"delay p95 {m['delay_ms_p95']['mean']:.0f} ms (mean of {p['runs']})")
    lines.append(f"record (config.json, runs.jsonl, summary.json) and sweep.png -> {out}/")
    return lines

"""The tokenstream part of `make demo`: a small Eloquent sweep in the simulator."""
from __future__ import annotations

from pathlib import Path

from netkit.apps.tokenstream.bench import BenchConfig, run_bench
from netkit.apps.tokenstream.bench import CONSTANT_TRACE
from netkit.apps.tokenstream.plots import plot_stall_vs_loss
from netkit.experiment.output import write_json
from netkit.trace.locate import find_trace


def demo_part(out: Path) -> list[str]:
    """Stall ratio of each scheme over a constant link (and an LTE trace) at 0-20% loss; plot and JSON in `out`."""
    lte = find_trace("Verizon-LTE-short.down")
    traces = [CONSTANT_TRACE] + ([str(lte)] if lte else [])
    cfg = BenchConfig(traces=traces, losses=[0.0, 0.1, 0.2], seeds=2, tokens=200)

    def extra(work: Path, results: dict) -> None:
        plot_stall_vs_loss(work / "stall_vs_loss.png", results)
        write_json(work / "results.json", results)

    results = run_bench(cfg, str(out), force=True, command="netkit demo (tokenstream)", progress=False, after=extra)
    lines = [f"{len(results['runs'])} simulated token streams ({len(traces)} traces x loss 0/10/20% x "
             f"Bernoulli and Gilbert-Elliott x 2 seeds) -> {out}/"]
    for scheme in ("eloquent", "retransmit", "duplicate", "udp"):
        m = results[scheme]
        lines.append(f"    {scheme:10s} stall ratio {m['stall_ratio']:.3f}, complete {m['complete'] * 100:.0f}% of "
                     f"responses ({m['delivered_fraction'] * 100:.1f}% of tokens), TTFT {m['ttft_ms']:.0f} ms, "
                     f"token delay p95 {m['token_delay_ms_p95']:.0f} ms, bytes overhead {m['bytes_overhead']:.1f}")
    red = results["reductions"]
    lines.append(f"Eloquent stalls {red['retransmit'] * 100:.1f}% less than retransmission and "
                 f"{red['duplicate'] * 100:.1f}% less than duplication here (paper: 71.0% and 31.6%; "
                 f"see docs/tokenstream.md for why they differ); a token that never arrives stalls "
                 f"the client until the response's end")
    return lines

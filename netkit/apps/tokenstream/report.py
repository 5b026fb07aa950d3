"""Text tables of a bench result: stall ratio per scheme and Eloquent's reductions."""
from __future__ import annotations

import math


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.1f}%"


def summary_table(results: dict) -> str:
    """Per-scheme means over the sweep, then Eloquent's stall reduction against each baseline."""
    schemes = results["sweep"]["schemes"]
    lines = [f"{'scheme':<11} {'stall ratio':>11} {'TTFT ms':>8} {'delay p95 ms':>12} {'bytes overhead':>14} "
             f"{'delivered':>9} {'complete':>8}"]
    for s in schemes:
        m = results[s]
        lines.append(f"{s:<11} {m['stall_ratio']:>11.4f} {m['ttft_ms']:>8.1f} {m['token_delay_ms_p95']:>12.1f} "
                     f"{m['bytes_overhead']:>14.2f} {_pct(m['delivered_fraction']):>9} {_pct(m.get('complete')):>8}")
    lines.append("")
    paper = results.get("paper_reductions", {})
    for base, red in results["reductions"].items():
        lines.append(f"Eloquent stall ratio vs {base:<10}: {_pct(red):>7} lower (paper: {_pct(paper.get(base))})")
    return "\n".join(lines)


def loss_table(results: dict) -> str:
    """Stall ratio per scheme at each (loss model, loss rate) of the sweep."""
    schemes = results["sweep"]["schemes"]
    head = f"{'model':<10} {'loss':>5} " + " ".join(f"{s:>10}" for s in schemes) + "   vs " + \
        " ".join(f"{b:>10}" for b in results["reductions"])
    lines = [head]
    for row in results["by_loss"]:
        cells = " ".join(f"{row['stall_ratio'][s]:>10.4f}" for s in schemes)
        reds = " ".join(f"{_pct(row['reductions'][b]):>10}" for b in results["reductions"])
        lines.append(f"{row['loss_model']:<10} {row['loss']:>5.2f} {cells}      {reds}")
    return "\n".join(lines)


def excess_table(results: dict) -> str:
    """Loss-induced stall (minus the zero-loss stall of the same trace and seed) and Eloquent's reductions on it."""
    excess = results.get("excess")
    if not excess:
        return ""
    schemes = results["sweep"]["schemes"]
    lines = ["loss-induced stall ratio (minus the zero-loss stall of the same trace and seed):",
             f"{'losses':<10} " + " ".join(f"{s:>10}" for s in schemes) + "   vs " +
             " ".join(f"{b:>10}" for b in results["reductions"])]
    for label, block in excess.items():
        cells = " ".join(f"{block['excess_stall_ratio'][s]:>10.4f}" for s in schemes)
        reds = " ".join(f"{_pct(block['reductions'][b]):>10}" for b in results["reductions"])
        lines.append(f"{label:<10} {cells}      {reds}")
    return "\n".join(lines)

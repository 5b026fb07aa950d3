"""Why Eloquent's stall reduction against duplication is smaller here than the paper's 31.6 %.

Runs variants of Eloquent and of duplication on the documented sweep's paths (a constant
12 Mbit/s link and the four Mahimahi LTE traces, 50 ms each way) at 10 % Bernoulli and
10 % Gilbert-Elliott loss (bursts of 3), seeds 0..N-1, the synthetic 300-token answer
at 30 tokens/s, and prints per variant: stall ratio, loss-induced stall (minus the same
run at zero loss), bytes overhead, packets per token, and where Eloquent's stall comes
from. The variants isolate the three suspects:

* **ACK frequency**: the receiver acknowledges every packet (default) or every 2nd / 4th.
* **What Eloquent does when no new token is due**: wait for the next token or the probe
  timeout (the paper's scheme, default), or re-send the oldest unacknowledged tokens
  once, ``R`` ms after a packet with new tokens if no newer token came (``repair R``).
  ``overdue G``: the same, but only once the next token is overdue by G smoothed token
  gaps (so only at pauses and at the end of the answer).
* **Spacing of duplicate copies**: back to back (default) or the copy ``S`` ms later.

    .venv/bin/python benchmarks/tokenstream_eloquent_gap.py [--seeds 5] [--traces-dir DIR] [--token-trace FILE]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender  # noqa: E402
from netkit.apps.tokenstream.reliable import StreamTokenReceiver, StreamTokenSender  # noqa: E402
from netkit.apps.tokenstream.simrun import simulate  # noqa: E402
from netkit.apps.tokenstream.sources import read_timing_trace, synthetic  # noqa: E402
from netkit.net.direction import LinkDirection  # noqa: E402

LTE = ("ATT-LTE-driving.down", "TMobile-LTE-driving.down", "TMobile-LTE-short.down", "Verizon-LTE-short.down")

#: name -> (scheme label, endpoint factory)
VARIANTS = {
    "eloquent (probe only)": lambda: (EloquentSender(), EloquentReceiver()),
    "eloquent ack/2": lambda: (EloquentSender(), EloquentReceiver(ack_every=2)),
    "eloquent ack/4": lambda: (EloquentSender(), EloquentReceiver(ack_every=4)),
    "eloquent repair 10ms": lambda: (EloquentSender(repair_after_us=10_000), EloquentReceiver()),
    "eloquent repair 5ms": lambda: (EloquentSender(repair_after_us=5_000), EloquentReceiver()),
    "eloquent tail 2g*": lambda: (EloquentSender(tail_repair_gaps=2.0), EloquentReceiver()),
    "eloquent overdue 2g": lambda: (EloquentSender(repair_gaps=2.0), EloquentReceiver()),
    "eloquent overdue 1.5g": lambda: (EloquentSender(repair_gaps=1.5), EloquentReceiver()),
    "eloquent overdue 1.2g": lambda: (EloquentSender(repair_gaps=1.2), EloquentReceiver()),
    "duplicate": lambda: (StreamTokenSender(copies=2), StreamTokenReceiver()),
    "duplicate spaced 10ms": lambda: (StreamTokenSender(copies=2, copy_spacing_us=10_000), StreamTokenReceiver()),
    "duplicate spaced 20ms": lambda: (StreamTokenSender(copies=2, copy_spacing_us=20_000), StreamTokenReceiver()),
    "retransmit": lambda: (StreamTokenSender(), StreamTokenReceiver()),
}


def _run(task: tuple) -> dict:
    variant, trace, model, loss, seed, token_trace = task
    sched = read_timing_trace(token_trace, seed) if token_trace else synthetic(300, 30, 10, seed=seed)
    path = LinkDirection(trace=trace, delay_ms=50, loss=loss, loss_model=model, loss_burst=3)
    sender, receiver = VARIANTS[variant]()
    run = simulate("eloquent" if variant.startswith("eloquent") else "retransmit", sched, path, seed,
                   endpoints=(sender, receiver))
    m = run.metrics
    # stall after the last token was generated: what the end-of-answer behaviour costs
    d = m["base_delay_ms"] * 1000
    last_e = run.gen_us[-1] + d
    tail = sum(max(0, (r if r is not None else last_e) - max(last_e, g + d))
               for g, r in zip(run.gen_us, run.render_us))
    return {"variant": variant, "trace": trace, "model": model, "loss": loss, "seed": seed,
            "stall": m["stall_ratio"], "overhead": m["bytes_overhead"], "complete": m["complete"],
            "packets_per_token": m["packets_sent"] / m["tokens"], "tail_stall_ms": tail / 1000,
            "stall_ms": m["stall_ms"], "probes": getattr(sender, "probes_sent", 0),
            "repairs": getattr(sender, "repairs_sent", 0)}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def main() -> int:
    """Run every variant over the paths and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--traces-dir", type=Path, default=ROOT.parent / "shared" / "traces" / "mahimahi")
    ap.add_argument("--token-trace", help="timing trace to stream instead of the synthetic answer")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    traces = ["constant:12"] + [str(args.traces_dir / n) for n in LTE if (args.traces_dir / n).exists()]
    tasks = [(v, t, m, p, s, args.token_trace) for v in VARIANTS for t in traces
             for m, p in (("bernoulli", 0.0), ("bernoulli", 0.1), ("ge", 0.1)) for s in range(args.seeds)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_run, tasks, chunksize=4))
    base = {(r["variant"], r["trace"], r["seed"]): r["stall"] for r in rows if r["loss"] == 0}
    print(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s; {len(traces)} paths x {args.seeds} seeds; "
          f"stall = new accounting (undelivered tokens charged), 'excess' = minus the zero-loss run\n")
    print(f"{'variant':<22} {'model':<9} {'stall':>6} {'excess':>7} {'vs dup':>7} {'tail ms':>7} "
          f"{'overhead':>8} {'pkt/tok':>7} {'probes':>6} {'repairs':>7}")
    for model in ("bernoulli", "ge"):
        stats = {}
        for v in VARIANTS:
            mine = [r for r in rows if r["variant"] == v and r["model"] == model and r["loss"] > 0]
            stats[v] = {"stall": _mean([r["stall"] for r in mine]),
                        "excess": _mean([r["stall"] - base[(v, r["trace"], r["seed"])] for r in mine]),
                        **{k: _mean([r[k] for r in mine])
                           for k in ("tail_stall_ms", "overhead", "packets_per_token", "probes", "repairs")}}
        dup = stats["duplicate"]["stall"]
        for v, st in stats.items():
            print(f"{v:<22} {model:<9} {st['stall']:6.3f} {st['excess']:7.3f} {100 * (1 - st['stall'] / dup):6.1f}% "
                  f"{st['tail_stall_ms']:7.1f} {st['overhead']:8.2f} {st['packets_per_token']:7.2f} "
                  f"{st['probes']:6.1f} {st['repairs']:7.1f}")
        print()
    print("'vs dup': 1 - stall / stall(duplicate, copies back to back) at the same loss model (positive: less stall); "
          "* = netkit's default Eloquent")
    return 0


if __name__ == "__main__":
    sys.exit(main())

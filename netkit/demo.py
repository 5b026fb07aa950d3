"""`make demo`: the toolkit's showcase. Replays flows over traces in the simulator and writes demo-out/.

Each host module contributes a part (a `demo_part(out: Path) -> list[str]` function
returning lines of findings); parts whose module is not built are skipped.
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import time
from pathlib import Path

from netkit.experiment.output import write_json
from netkit.experiment.replay import ReplayConfig, replay_to_dir, summary_line
from netkit.trace.mahimahi import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "traces" / "mahimahi"

PARTS = [
    ("core", "netkit.demo", "core_part"),
    ("l4s", "netkit.experiment.l4s", "demo_part"),
    ("tokenstream", "netkit.apps.tokenstream.demo", "demo_part"),
    ("kvstream", "netkit.apps.kvstream.demo", "demo_part"),
    ("grace", "netkit.apps.grace.demo", "demo_part"),
]


def core_part(out: Path) -> list[str]:
    """Bulk and CBR flows over a real LTE trace (or a generated one) and over a step trace."""
    lte = SHARED / "Verizon-LTE-short.down"
    runs = []
    if lte.exists():
        runs.append(("lte-bulk-cbr", ReplayConfig(trace=str(lte), uplink=str(SHARED / "Verizon-LTE-short.up"),
                                                  delay_ms=20, queue="droptail:packets=100",
                                                  apps=["bulk", "cbr:0.5"], duration_s=60, warmup_s=5)))
    runs.append(("steps-cubic-vs-reno", ReplayConfig(trace=str(ROOT / "traces" / "steps-12-3-24-6.trace"),
                                                     delay_ms=20, queue="codel:packets=200,target=5,interval=100",
                                                     apps=["cubic", "reno"], duration_s=40, warmup_s=2)))
    lines = []
    for name, cfg in runs:
        res = replay_to_dir(cfg, out / name, force=True, command=f"netkit demo ({name})")
        s = res.summary
        lines.append(f"{name}: {summary_line(s)}; simulated {cfg.duration_s:g} s in {res.wall_s:.2f} s "
                     f"({s['sim']['speedup_over_real_time']:.0f}x real time) -> {out / name}/")
        for f in s["flows"]:
            lines.append(f"    flow {f['flow']} {f['app']}: {f['throughput_mbps']:.2f} Mbit/s, "
                         f"delay p95 {f['delay_ms_p95']:.0f} ms, loss {f['loss_rate'] * 100:.2f}%")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run every available part, write demo-out/summary.md and print what was found and where."""
    ap = argparse.ArgumentParser(prog="python -m netkit.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo-out")
    ap.add_argument("--only", action="append", help="run only these parts (repeatable)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = ["# netkit demo", ""]
    results = {}
    for name, module, func in PARTS:
        if args.only and name not in args.only:
            continue
        try:
            part = getattr(importlib.import_module(module), func)
        except (ModuleNotFoundError, AttributeError):
            print(f"[{name}] not built yet: skipped")
            continue
        print(f"[{name}] running ...", flush=True)
        t0 = time.perf_counter()
        lines = part(out / name if name != "core" else out / "core")
        took = time.perf_counter() - t0
        results[name] = {"lines": lines, "seconds": took}
        report += [f"## {name} ({took:.1f} s)", ""] + [f"    {ln}" for ln in lines] + [""]
        for ln in lines:
            print(f"[{name}] {ln}")
    atomic_write_text(out / "summary.md", "\n".join(report) + "\n")
    write_json(out / "demo.json", results)
    print(f"\nnetkit demo: wrote {out}/summary.md; plots and summaries under {out}/<part>/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from netkit.experiment.replay import app_entry, summary_line
from netkit.experiment.single import run_to_dir
from netkit.experiment.spec import parse_experiment
from netkit.trace.mahimahi import atomic_write_text
from netkit.trace.locate import lte_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = lte_dir() or ROOT / "traces"  # NETKIT_TRACES, else ../shared/traces beside the repository

PARTS = [
    ("core", "netkit.demo", "core_part"),
    ("l4s", "netkit.experiment.l4s", "demo_part"),
    ("experiments", "netkit.experiment.demo", "demo_part"),
    ("tokenstream", "netkit.apps.tokenstream.demo", "demo_part"),
    ("kvstream", "netkit.apps.kvstream.demo", "demo_part"),
    ("p4", "netkit.p4.demo", "demo_part"),
    ("grace", "netkit.apps.grace.demo", "demo_part"),
    ("swiftqueue", "netkit.apps.swiftqueue.demo", "demo_part"),
    ("sfu", "netkit.apps.sfu.demo", "demo_part"),
]


def core_part(out: Path) -> list[str]:
    """Bulk and CBR flows over a real LTE trace (or a generated one) and over a step trace."""
    lte = SHARED / "Verizon-LTE-short.down"
    runs = []
    if lte.exists():
        runs.append(("lte-bulk-cbr", _path(str(lte), str(SHARED / "Verizon-LTE-short.up"), "droptail:packets=100",
                                           ["bulk", "cbr:0.5"], 60, 5)))
    runs.append(("steps-cubic-vs-reno", _path(str(ROOT / "traces" / "steps-12-3-24-6.trace"), None,
                                              "codel:packets=200,target=5,interval=100", ["cubic", "reno"], 40, 2)))
    lines = []
    for name, data in runs:
        exp = parse_experiment(data)
        res = run_to_dir(exp, out / name, force=True, command=f"netkit demo ({name})")
        m = res.metrics
        lines.append(f"{name}: {summary_line(m)}; simulated {exp.duration_s:g} s in {res.wall_s:.2f} s "
                     f"({exp.duration_s / res.wall_s:.0f}x real time) -> {out / name}/")
        for a in exp.apps:
            lines.append(f"    {a.key}: {m[a.key + '.throughput_mbps']:.2f} Mbit/s, "
                         f"delay p95 {m[a.key + '.delay_ms_p95']:.0f} ms, loss {m[a.key + '.loss_rate'] * 100:.2f}%")
    return lines


def _path(trace: str, uplink: str | None, queue: str, apps: list[str], duration_s: float, warmup_s: float) -> dict:
    """A `path` experiment with 20 ms of delay each way, like `netkit replay`."""
    down = {"trace": trace, "delay_ms": 20, "queue": queue}
    up = {"delay_ms": 20, **({"trace": uplink} if uplink else {})}
    return {"name": "demo", "duration_s": duration_s, "warmup_s": warmup_s, "links": {"down": down, "up": up},
            "apps": [app_entry(a) for a in apps]}


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

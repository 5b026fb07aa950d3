"""Bandwidth-adaptive KV streaming over the real LTE traces (simulator): TTFT and target misses per policy.

    .venv/bin/python benchmarks/kvstream_streaming.py --out out/kvstream_streaming [--profile P.json]
                                                      [--docs] [--tune] [--what-if]

1. Measures a streaming profile on this machine (unless ``--profile`` reuses
   one) and saves it next to ``--out`` as ``<out>-profile.json``: the serving
   model ``--model`` (default ``llama-3.1-8b-4l``: four decoder layers of
   Llama-3.1-8B's width, random weights, bfloat16 on the CPU; see
   profile.SERVING_MODELS), a 2048-token context in 8 chunks of 256; sizes from
   real MiniLM KV encodings, decode and recompute (prefill) times timed here.
2. Picks the TTFT targets from the measured recompute time, so the decision is
   non-trivial on any machine: 70 % and 90 % of the time this machine takes to
   recompute the whole context from text (rounded to 0.5 s). Text alone misses
   both by construction; KV alone needs the network to be fast; a mix (the
   receiver recomputes some chunks while others arrive) can meet them on slower
   stretches of the traces. ``--target-s`` overrides.
3. Simulates requests at seeded offsets along every ``*.down`` trace in
   ../shared/traces/mahimahi (uplink: the ``.up`` twin), 20 ms each way, a
   100-packet droptail queue, for the adaptive policy, int8, fp16, text and every
   fixed CacheGen level. Writes results.json, profile.json, table.md,
   ttft_cdf.png and miss.png into ``--out``; ``--docs`` copies the plots to
   docs/img/kvstream_ttft_cdf.png and docs/img/kvstream_miss.png.
4. ``--tune``: the adaptive controller's safety factor against miss share and
   quality, on other requests (seed 1, 10 per trace) than the report's (seed 0),
   at the first target; ``--out``/safety.json.
5. ``--what-if``: the first target with text recompute 4x slower (what this
   machine measured while other jobs shared its two cores) and 20x faster (a
   GPU-class receiver; not measured), 10 requests per trace;
   ``--out``/recompute_scale.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netkit.apps.kvstream import streamsim  # noqa: E402
from netkit.apps.kvstream.profile import SERVING_MODELS, StreamProfile, measure_profile  # noqa: E402

TARGET_FRACTIONS = (0.7, 0.9)


def targets_for(profile: StreamProfile) -> list[float]:
    """TTFT targets at :data:`TARGET_FRACTIONS` of the whole context's recompute time, rounded to 0.5 s."""
    text_s = sum(profile.process["text"]) / 1e6
    return [max(0.5, round(2 * f * text_s) / 2) for f in TARGET_FRACTIONS]


def tune(out: Path, target: float, safeties: tuple[float, ...] = (1.0, 0.85, 0.7, 0.6, 0.5, 0.4)) -> None:
    """Miss share, TTFT p50 and quality of the adaptive policy per safety factor (seed 1)."""
    profile = StreamProfile.load(out / "profile.json")
    paths = streamsim.lte_paths()
    rows = {}
    print(f"safety (target {target:g} s, seed 1) | miss share | TTFT p50 (s) | mean quality | text share")
    for safety in safeties:
        res = streamsim.run_sweep(profile, paths, ("kvstream",), (target,), 10, seed=1,
                                  controller_kwargs={"safety": safety})
        s = streamsim.summarize(res)[f"{target:g}"]["kvstream"]
        rows[str(safety)] = s
        print(f"{safety:6.2f} | {s['miss_share']:10.1%} | {s['ttft_p50_s']:12.1f} | {s['quality_mean']:.5f} | "
              f"{s['option_share'].get('text', 0):.0%}")
    (out / "safety.json").write_text(json.dumps(rows, indent=1) + "\n")


def what_if(out: Path, target: float, factors: tuple[float, ...] = (4.0, 1.0, 0.05)) -> None:
    """Miss share per policy with text recompute scaled (slower and faster receivers)."""
    base = StreamProfile.load(out / "profile.json")
    paths = streamsim.lte_paths()
    policies = ("kvstream", "int8", "text", "kvstream-L4")
    rows = {}
    print(f"recompute x (target {target:g} s) | text s/context | " + " | ".join(f"{p} miss, p50" for p in policies))
    for f in factors:
        prof = base.scale_recompute(f)
        res = streamsim.summarize(streamsim.run_sweep(prof, paths, policies, (target,), 10, seed=0))[f"{target:g}"]
        rows[str(f)] = res
        cells = " | ".join(f"{res[p]['miss_share']:.0%}, {res[p]['ttft_p50_s']:.1f} s" for p in policies)
        print(f"{f:11g} | {sum(prof.process['text']) / 1e6:14.1f} | {cells}")
    (out / "recompute_scale.json").write_text(json.dumps(rows, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Measure (or load) the profile, run the sweep, print the headline numbers, optional extras."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/kvstream_streaming")
    ap.add_argument("--profile", help="reuse a profile JSON instead of measuring one")
    ap.add_argument("--model", default="llama-3.1-8b-4l", choices=sorted(SERVING_MODELS) + ["smollm2-135m"],
                    help="serving model to measure (profile.SERVING_MODELS), or smollm2-135m: the trained "
                         "LLM, every number measured on it (lmprofile.py)")
    ap.add_argument("--target-s", type=float, action="append", help="override the targets (repeatable)")
    ap.add_argument("--traces", help="folder of the LTE traces (default ../shared/traces/mahimahi)")
    ap.add_argument("--requests", type=int, default=20, help="requests per trace")
    ap.add_argument("--docs", action="store_true", help="copy the plots into docs/img/")
    ap.add_argument("--tune", action="store_true", help="also sweep the controller's safety factor (seed 1)")
    ap.add_argument("--what-if", action="store_true", help="also rerun with text recompute 4x slower, 20x faster")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.profile:
        profile_path = Path(args.profile)
    else:
        profile_path = out.with_name(out.name + "-profile.json")
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        say = lambda s: print(f"profile: {s}", file=sys.stderr, flush=True)  # noqa: E731
        if args.model == "smollm2-135m":
            from netkit.apps.kvstream.lmprofile import measure_lm_profile

            measure_lm_profile(progress=say).save(profile_path)
        else:
            measure_profile(SERVING_MODELS[args.model], progress=say).save(profile_path)
        print(f"wrote {profile_path}")
    profile = StreamProfile.load(profile_path)
    targets = args.target_s or targets_for(profile)
    print(f"whole-context recompute {sum(profile.process['text']) / 1e6:.1f} s -> targets {targets} s")
    sim_args = ["--out", args.out, "--force", "--requests", str(args.requests), "--profile", str(profile_path)]
    if args.traces:
        sim_args += ["--traces", args.traces]
    for t in targets:
        sim_args += ["--target-s", f"{t:g}"]
    streamsim.main(sim_args)
    res = json.loads((out / "results.json").read_text())
    for target, by_policy in res["summary"].items():
        k, i8, txt = by_policy["kvstream"], by_policy["int8"], by_policy["text"]
        print(f"target {target} s: kvstream misses {k['miss_share']:.1%} (int8 {i8['miss_share']:.1%}, "
              f"fp16 {by_policy['fp16']['miss_share']:.1%}, text {txt['miss_share']:.1%}); TTFT p50 "
              f"{k['ttft_p50_s']:.1f} s vs int8 {i8['ttft_p50_s']:.1f} s, text {txt['ttft_p50_s']:.1f} s; "
              f"quality {k['quality_mean']:.5f}; {k['mb_per_request']:.1f} MB vs int8 {i8['mb_per_request']:.1f} MB")
    if args.tune:
        tune(out, targets[0])
    if args.what_if:
        what_if(out, targets[0])
    if args.docs:
        img = ROOT / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "ttft_cdf.png", img / "kvstream_ttft_cdf.png")
        shutil.copyfile(out / "miss.png", img / "kvstream_miss.png")
        print(f"copied plots to {img}/kvstream_ttft_cdf.png, kvstream_miss.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

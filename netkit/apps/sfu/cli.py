"""`netkit sfu bench` and `netkit sfu demo`: meetings through the Scallop-style P4 SFU and the software baseline."""
from __future__ import annotations

import argparse
from netkit import validate as v

MODES = ("sim", "emu")


def add_sfu_parser(sub: argparse._SubParsersAction) -> None:
    """Register `netkit sfu` and its subcommands."""
    p = sub.add_parser("sfu", help="Scallop selective forwarding unit: P4 data plane, Python control plane")
    ssub = p.add_subparsers(dest="sfu_cmd", required=True)
    b = ssub.add_parser("bench", help="N-party meetings through each SFU, side by side; writes DIR/summary.json")
    _add_meeting_args(b)
    b.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    b.add_argument("--force", action="store_true", help="replace an existing --out folder")
    b.set_defaults(func=_bench)
    d = ssub.add_parser("demo", help="one 3-party meeting with a constrained receiver, printed as a table")
    d.add_argument("--duration", type=v.duration_arg, default=6.0, help="seconds of meeting (default 6)")
    d.set_defaults(func=_demo)


def _add_meeting_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--participants", type=v.arg_int(2, 64), default=3, help="participants per meeting (default 3)")
    p.add_argument("--meetings", type=v.arg_int(1, 1000), default=1, help="meetings (default 1)")
    p.add_argument("--trace", action="extend", nargs="+", dest="traces", metavar="FILE",
                   help="downlink traces (any netkit trace or constant:MBPS); participant i of each meeting "
                        "gets trace i mod the number given (default: no rate limit)")
    p.add_argument("--mode", choices=MODES, default="sim", help="sim (default) or emu")
    p.add_argument("--duration", type=v.duration_arg, default=10.0, help="seconds of meeting (default 10)")
    p.add_argument("--warmup", type=v.arg_number(0, v.MAX_DURATION_S), default=2.0, help="seconds left out of fps and freezes (default 2)")
    p.add_argument("--delay", type=v.delay_arg, default=10.0, help="round-trip delay of each access link in ms (default 10)")
    p.add_argument("--up-loss", type=v.probability_arg, default=0.0, help="random loss on every uplink (default 0)")
    p.add_argument("--sfu", action="extend", nargs="+", dest="sfus", choices=("scallop", "software", "janus"),
                   help="SFUs to run (default scallop and software; janus: Debian's Janus VideoRoom with aiortc "
                        "clients, --mode emu only)")
    p.add_argument("--seed", type=v.seed_arg, default=1, help="run seed (default 1)")


def _plan(args: argparse.Namespace):
    from netkit.apps.sfu.sim import MeetingPlan
    from netkit.net.direction import get_trace

    for name, value, lo in (("--participants", args.participants, 2), ("--meetings", args.meetings, 1)):
        if value < lo:
            raise ValueError(f"{name}: expected an integer >= {lo}, got {value}")
    if not args.duration > args.warmup >= 0:
        raise ValueError(f"--duration {args.duration} must exceed --warmup {args.warmup} (>= 0)")
    if not 0 <= args.up_loss < 1:
        raise ValueError(f"--up-loss: expected a probability in [0, 1), got {args.up_loss}")
    if args.participants * args.meetings > 2000:
        raise ValueError("--participants x --meetings: at most 2000 participants on one switch")
    from netkit.errors import UserError

    for t in args.traces or ():
        try:
            get_trace(t)          # a bad trace fails here with its name, before anything runs
        except ValueError as exc:
            raise UserError(f"{t!r}: {exc}", source="--trace") from None
    return MeetingPlan(participants=args.participants, meetings=args.meetings, traces=tuple(args.traces or ()),
                       duration_s=args.duration, warmup_s=args.warmup, delay_ms=args.delay,
                       up_loss=args.up_loss, seed=args.seed)


def _bench(args: argparse.Namespace) -> int:
    from netkit.apps.sfu.sim import run_meetings
    from netkit.experiment.output import staged_output, write_json

    plan = _plan(args)
    if "janus" in (args.sfus or ()) and args.mode != "emu":
        raise ValueError("--sfu janus: Janus runs live only (add --mode emu)")
    if "janus" in (args.sfus or ()):
        from netkit.apps.sfu.janus_server import janus_binary

        janus_binary()          # installed? one line before anything runs
    if args.mode == "emu":
        from netkit.apps.sfu.live import run_meetings_live
        from netkit.emu.errors import require_root, require_tun

        require_root("netkit sfu bench --mode emu")
        require_tun()
        run = run_meetings_live
    else:
        run = run_meetings
    sfus = list(dict.fromkeys(args.sfus or ("scallop", "software")))
    results = {}
    for name in sfus:
        if name == "janus":
            from netkit.apps.sfu.janus import run_meetings_janus

            results[name] = run_meetings_janus(plan)
        else:
            results[name] = run(plan, name)
        s = results[name]
        print(f"{name:9s} fps_p50 {s['fps_p50']:5.1f}  freeze {s['freeze_ratio']:.3f}  "
              f"delay p95 {s['frame_delay_ms_p95']:6.1f} ms  fwd p50/p99 {s['forward_latency_ms_p50'] * 1000:6.1f}/"
              f"{s['forward_latency_ms_p99'] * 1000:7.1f} us  cpu pkts {s['cpu_packets_fraction']:.4f}  "
              f"gaps {s['seq_gaps']}")
    config = {"participants": plan.participants, "meetings": plan.meetings, "traces": list(plan.traces),
              "mode": args.mode, "duration_s": plan.duration_s, "warmup_s": plan.warmup_s,
              "delay_ms": plan.delay_ms, "up_loss": plan.up_loss, "seed": plan.seed}
    from netkit.apps.sfu.plots import plot_control_share, plot_fps

    with staged_output(args.out, force=args.force) as stage:
        write_json(stage / "summary.json", {"config": config, "sfus": results})
        plot_fps(stage / "fps.png", results)
        if "scallop" in results:
            plot_control_share(stage / "control_share.png", results["scallop"])
    print(f"wrote {args.out}/summary.json")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from netkit.apps.sfu.sim import MeetingPlan, run_meetings

    plan = MeetingPlan(participants=3, traces=("constant:10", "constant:10", "constant:1"), duration_s=args.duration)
    print("3-party meeting; m1p3 is behind a 1 Mbit/s downlink (simulated)")
    for name in ("scallop", "software"):
        s = run_meetings(plan, name)
        print(f"\n{name}: control plane saw {s['cpu_packets_fraction'] * 100:.2f}% of packets, "
              f"{s['cpu_bytes_fraction'] * 100:.2f}% of bytes; forwarding p50 {s['forward_latency_ms_p50'] * 1000:.1f} us")
        for c in s["layer_changes"]:
            print(f"  t={c['t_s']:.2f}s {c['receiver']} layer {c['from']} -> {c['to']}")
        for r in s["receivers"]:
            print(f"  {r['receiver']} <- {r['sender']}: {r['fps']:5.1f} fps, longest freeze {r['max_freeze_ms']:.0f} ms")
    return 0

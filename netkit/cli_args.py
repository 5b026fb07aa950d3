"""Command-line options shared by every command that builds a trace-driven path (replay, shell, link, l4s,
tokenstream, kvstream), and their translation into the one network description (`netkit.net`)."""
from __future__ import annotations

import argparse
from netkit import validate as v

#: where each shared option lands in an experiment (for naming the option in errors)
PATH_OPTION_KEYS = {
    "links.down.trace": "--trace", "links.up.trace": "--uplink", "links.down.delay_ms": "--delay",
    "links.up.delay_ms": "--delay", "links.down.loss": "--loss", "links.up.loss": "--uplink-loss",
    "links.down.loss_model": "--loss-model", "links.up.loss_model": "--loss-model",
    "links.down.loss_burst": "--loss-burst", "links.up.loss_burst": "--loss-burst",
    "links.down.queue": "--queue", "links.up.queue": "--uplink-queue",
}


def add_path_arguments(p: argparse.ArgumentParser, delay_ms: float = 0.0, queue: str | None = None,
                       loss: float = 0.0) -> None:
    """The Mahimahi-like path options: uplink trace, delay, loss and queues (the --trace option is each command's).

    Defaults are the command's own (a module may default to 50 ms of delay); the names are the same everywhere.
    """
    p.add_argument("--uplink", help="uplink trace or constant:MBPS (default: no rate limit on the uplink)")
    p.add_argument("--delay", type=v.delay_arg, default=delay_ms,
                   help=f"one-way delay in ms, each direction (like mm-delay; default {delay_ms:g})")
    p.add_argument("--loss", type=v.probability_arg, default=loss,
                   help=f"downlink loss probability (like mm-loss downlink; default {loss:g})")
    p.add_argument("--uplink-loss", type=v.probability_arg, default=0.0, help="uplink loss probability (default 0)")
    p.add_argument("--loss-model", default="bernoulli", choices=("bernoulli", "ge"),
                   help="bernoulli, or ge for Gilbert-Elliott bursts")
    p.add_argument("--loss-burst", type=v.burst_arg, default=3.0, help="ge: mean burst length in packets (default 3)")
    p.add_argument("--queue", default=queue, help="downlink queue: infinite, droptail:packets=N, drophead:bytes=N, "
                                                  f"codel:..., pie:..., dualpi2[:opt=val,...] (default {queue or 'infinite'})")
    p.add_argument("--uplink-queue", help="uplink queue (same forms as --queue)")


def links_from_args(args: argparse.Namespace, trace: str | None = None) -> dict:
    """The `[links]` table of an experiment from the shared options (`trace`: the command's downlink trace)."""
    def direction(tr, loss, queue) -> dict:
        d = {"delay_ms": args.delay, "loss": loss, "loss_model": args.loss_model, "loss_burst": args.loss_burst}
        if tr is not None:
            d["trace"] = tr
        if queue is not None:
            d["queue"] = queue
        return d

    return {"down": direction(trace, args.loss, args.queue),
            "up": direction(args.uplink, args.uplink_loss, args.uplink_queue)}


def link_plan_from_args(args: argparse.Namespace, trace: str | None, seed: int = 0, log_dir: str | None = None,
                        command: str = "netkit"):
    """A validated `netkit.net.LinkPlan` (down, up) from the shared options, errors naming the option."""
    from netkit.net import LinkPlan, Topology

    with options_named():
        topo = Topology.from_dict({"kind": "path"}, links_from_args(args, trace))
    return LinkPlan.single(topo.down, topo.up, seed=seed, log_dir=log_dir, command=command)


class options_named:
    """A context manager turning a `UserError` about a dotted key into one about the option that set it."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        self.keys = {**PATH_OPTION_KEYS, **(extra or {})}

    def __enter__(self) -> "options_named":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        from netkit.errors import UserError

        if isinstance(exc, UserError) and exc.key:
            for key, option in self.keys.items():
                if exc.key == key or exc.key.startswith(key + "."):
                    raise UserError(exc.message, source=option) from None
        return False

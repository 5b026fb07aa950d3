"""Command-line options shared by every command that builds a trace-driven path (replay, shell, link)."""
from __future__ import annotations

import argparse


def add_path_arguments(p: argparse.ArgumentParser) -> None:
    """The Mahimahi-like path options: uplink trace, delay, loss and queues (the --trace option is each command's)."""
    p.add_argument("--uplink", help="uplink trace (default: no rate limit on the uplink)")
    p.add_argument("--delay", type=float, default=0.0, help="one-way delay in ms, each direction (like mm-delay)")
    p.add_argument("--loss", type=float, default=0.0, help="downlink loss probability (like mm-loss downlink)")
    p.add_argument("--loss-model", default="bernoulli", choices=("bernoulli", "ge"),
                   help="bernoulli, or ge for Gilbert-Elliott bursts")
    p.add_argument("--loss-burst", type=float, default=3.0, help="ge: mean burst length in packets")
    p.add_argument("--queue", help="downlink queue: infinite, droptail:packets=N, drophead:bytes=N, "
                                   "codel:..., pie:..., dualpi2[:opt=val,...]")
    p.add_argument("--uplink-queue", help="uplink queue (same forms as --queue)")

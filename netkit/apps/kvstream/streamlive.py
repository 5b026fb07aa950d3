"""One KV streaming request live: a `kvstream` experiment in mode `emu` on the one live harness of `netkit.emu`.

Two namespaces hold the server (outside) and the client (inside), joined by the
real-time trace link built from the same delay, trace and queue as the
simulator's path (downlink: server to client), with the same seeds. The very
same sans-I/O :class:`~.streaming.KVStreamServer` and :class:`~.streaming.KVStreamClient`
run over netkit's reliable stream on UDP, on the precise driver, exactly as in
the simulator. Needs root and ``/dev/net/tun``.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from .profile import StreamProfile
from .streaming import KVStreamClient, KVStreamServer
from netkit.net import Topology

from .streamsim import POLICIES, RequestResult, kv_experiment, kv_path, load_profile_option, request_result
from netkit import validate as v

__all__ = ["run_live", "kv_experiment", "add_stream_live_arguments", "cmd_stream_live", "main"]


def run_live(profile: StreamProfile, policy: str, path: Topology, target_s: float, offset_s: float = 0.0,
             timeout_s: float | None = None, realtime: bool = True, seed: int = 0) -> tuple[RequestResult, KVStreamServer,
                                                                                             KVStreamClient, dict | None]:
    """One request over a live link; the same record as the simulator, the endpoints and the link statistics.

    Raises ``EmuError`` without root or TUN.
    """
    from netkit.experiment.live import run_emu
    from netkit.experiment.spec import parse_experiment

    exp = parse_experiment(kv_experiment(profile, policy, path, target_s, offset_s, "emu", seed, timeout_s))
    result = run_emu(exp, realtime=realtime)
    app = result.apps[0]
    start = app.client.request_us or 0
    res = request_result(profile, policy, path, app.target_us, start, app.server, app.client, app.controller,
                         app.cap_us)
    return res, app.server, app.client, (result.link_stats or {}).get("link")


def add_stream_live_arguments(p: argparse.ArgumentParser) -> None:
    """Options of one live request (``python -m ...streamlive`` and ``netkit kvstream stream-live``)."""
    p.add_argument("--profile", type=v.in_file, required=True, help="profile JSON (stream-bench writes one into its --out)")
    p.add_argument("--trace", required=True, help="downlink trace file")
    p.add_argument("--uplink", help="uplink trace file (default: no rate limit)")
    p.add_argument("--delay", "--delay-ms", type=v.delay_arg, default=20.0, dest="delay",
                   help="one-way delay in ms, each direction (default 20)")
    p.add_argument("--queue", default="droptail:packets=100")
    p.add_argument("--target-s", type=v.duration_arg, default=20.0)
    p.add_argument("--offset-s", type=v.arg_number(0, v.MAX_DURATION_S), default=0.0, help="start this far into the trace")
    p.add_argument("--policy", action="append", choices=POLICIES, help="repeatable (default: kvstream)")
    p.add_argument("--compare-sim", action="store_true", help="also run the simulator on the same request")


def cmd_stream_live(args: argparse.Namespace) -> int:
    """Run each policy once over the live link; print TTFT and options (and the simulator's, if asked)."""
    from .streamsim import simulate_request

    from netkit.cli_args import options_named

    profile = load_profile_option(args.profile)
    with options_named():
        path = kv_path(args.trace, args.uplink, args.delay, args.queue)
    for policy in args.policy or ["kvstream"]:
        res, _, _, _ = run_live(profile, policy, path, args.target_s, args.offset_s)
        print(f"live {policy}: TTFT {res.ttft_s} s (target {args.target_s:g} s), options {res.options}")
        if args.compare_sim:
            sim, _, _ = simulate_request(profile, policy, path, args.target_s, int(res.offset_s * 1e6))
            print(f"sim  {policy}: TTFT {sim.ttft_s} s, options {sim.options}")
        print(json.dumps(asdict(res)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m netkit.apps.kvstream.streamlive --profile P.json --trace FILE [--policy kvstream] ...``."""
    from netkit.entry import run_command

    prog = "python -m netkit.apps.kvstream.streamlive"

    def build() -> argparse.ArgumentParser:
        p = v.OneLineParser(prog=prog, description=__doc__.splitlines()[0])
        add_stream_live_arguments(p)
        p.set_defaults(func=cmd_stream_live)
        return p

    return run_command(build, argv, lambda args: prog)


if __name__ == "__main__":
    sys.exit(main())

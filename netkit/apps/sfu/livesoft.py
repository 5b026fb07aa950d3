"""The software-SFU baseline live: one UDP socket in the star's centre namespace, the control core and the
`SoftwareForwarder` in one asyncio loop (`python -m netkit.apps.sfu.livesoft`, started by `netkit.apps.sfu.live`).

Every datagram crosses user space: media is replicated, layer-filtered and renumbered here, RTCP the
data plane would route is routed here, the rest goes to the control core. The process reads the
signalling messages to apply from a JSON file (the same messages the P4 controller applies), prints
`ready` once they are applied, reads the links' clock epoch (`epoch NS`, CLOCK_MONOTONIC) from stdin, runs until SIGTERM/SIGINT, then writes its counters to `--stats`
(atomically) and exits 0.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from netkit.files import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    """Serve until told to stop; write the counters."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netns", required=True, help="namespace of the SFU's socket")
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--signals", required=True, help="JSON list of signalling messages to apply first")
    ap.add_argument("--stats", required=True, help="where to write the counters on exit (JSON)")
    ap.add_argument("--no-realtime", action="store_true")
    args = ap.parse_args(argv)

    from netkit.apps.sfu.control import SfuControl
    from netkit.apps.sfu.software import SoftwareForwarder
    from netkit.emu.clock import Clock
    from netkit.emu.driver import run, udp_socket

    sock = udp_socket(args.netns, args.addr, args.port)
    counts = {"packets_in": 0, "bytes_in": 0, "sent": 0, "send_errors": 0}

    def emit(to, payload: bytes) -> None:
        try:
            sock.sendto(payload, (to.ip, to.port))
            counts["sent"] += 1
        except OSError:
            counts["send_errors"] += 1   # a full socket buffer drops, as a port would

    fwd = SoftwareForwarder(emit)
    ctl = SfuControl(fwd, args.addr, args.port)
    fwd.control = ctl
    replies = [ctl.signal(m) for m in json.loads(Path(args.signals).read_text())]
    print("ready", json.dumps(replies), flush=True)
    line = sys.stdin.readline()
    if not line.startswith("epoch "):
        return 0            # the owner went away before the meetings started
    clock = Clock(int(line.split()[1]))

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def readable() -> None:
            for _ in range(64):
                try:
                    data, src = sock.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    continue
                counts["packets_in"] += 1
                counts["bytes_in"] += len(data) + 28      # IP length, as the simulator counts
                fwd.forward(src, data, clock.now())
        loop.add_reader(sock.fileno(), readable)
        await stop.wait()
        loop.remove_reader(sock.fileno())

    run(serve(), realtime=not args.no_realtime)
    sock.close()
    stats = {**counts, "to_control": fwd.to_control, "handled": dict(ctl.handled),
             "handled_bytes": dict(ctl.handled_bytes), "bad": dict(ctl.bad),
             "layer_changes": ctl.layer_changes, "estimates": ctl.estimates}
    atomic_write_text(args.stats, json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())

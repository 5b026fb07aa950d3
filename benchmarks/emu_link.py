"""Live link benchmark: highest sustained forwarding rate (1400-byte UDP, both directions at once) and the
link process's timing error against each packet's scheduled release (opportunity) time.

Two scratch namespaces are joined by a `TunLink` whose trace, in each direction, is a
constant rate well above the offered load, so every packet leaves at a trace
opportunity and none is dropped by the link model. A generator process sends
1400-byte UDP payloads (1428-byte IP packets) both ways at a fixed rate and counts
what arrives. For each offered rate the script prints, per direction, the packets
per second the link forwarded and the sockets received, and the timing error
(write time - scheduled release time) p50/p99 in microseconds.

    sudo .venv/bin/python benchmarks/emu_link.py [--rates 10000,20000,30000,40000] [--seconds 4] [--json]

A rate is "sustained" when the generator manages to send it (>= 99 %), >= 99.5 % of the
sent packets arrive, and p99 < 1 ms. On a small machine the generator and the link
process share the cores, so the limit found is that of the pair.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAYLOAD = 1400
PORT_DOWN, PORT_UP = 9001, 9002


def generator(ns_out: str, ns_in: str, out_addr: str, in_addr: str, pps: int, seconds: float) -> dict:
    """Send `pps` packets per second each way for `seconds`, receive what arrives, return the counts."""
    from netkit.emu import netns

    def sock(ns: str, bind: tuple[str, int] | None) -> socket.socket:
        with netns.enter(ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 20)
        if bind:
            s.bind(bind)
        s.setblocking(False)
        return s

    rx_down, rx_up = sock(ns_in, (in_addr, PORT_DOWN)), sock(ns_out, (out_addr, PORT_UP))
    tx_down, tx_up = sock(ns_out, None), sock(ns_in, None)
    tx_down.connect((in_addr, PORT_DOWN))
    tx_up.connect((out_addr, PORT_UP))
    data = bytes(PAYLOAD)
    counts = {"sent_down": 0, "sent_up": 0, "recv_down": 0, "recv_up": 0, "send_errors": 0}
    buf = bytearray(2048)

    def drain() -> None:
        for rx, key in ((rx_down, "recv_down"), (rx_up, "recv_up")):
            while True:
                try:
                    rx.recv_into(buf)
                except BlockingIOError:
                    break
                counts[key] += 1

    start = time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        due = int((now - start) * pps)
        for tx, key in ((tx_down, "sent_down"), (tx_up, "sent_up")):
            while counts[key] < due:
                try:
                    tx.send(data)
                except OSError:
                    counts["send_errors"] += 1
                counts[key] += 1
        drain()
        time.sleep(0.0003)
    settle = time.monotonic() + 0.5
    while time.monotonic() < settle:
        drain()
        time.sleep(0.005)
    return counts


def one_rate(pps: int, seconds: float, trace: str) -> dict:
    """Measure one offered rate; return counts, rates and the link's timing error per direction."""
    from netkit.net import LinkDirection, LinkPlan
    from netkit.emu.testing import scratch_namespace
    from netkit.emu.tunlink import TunLink

    with scratch_namespace("a") as a, scratch_namespace("b") as b:
        link = TunLink(LinkPlan.single(LinkDirection(trace), LinkDirection(trace)), b, a).start()
        try:
            res = subprocess.run([sys.executable, __file__, "--generator", a, b, link.outer_addr, link.inner_addr,
                                  str(pps), str(seconds)], capture_output=True, text=True, timeout=seconds + 30)
            if res.returncode != 0:
                raise RuntimeError(f"generator failed: {res.stderr}")
            counts = json.loads(res.stdout)
        finally:
            stats = link.close()
    out = {"offered_pps": pps, "seconds": seconds, **counts,
           "link_cpu_s": stats["cpu_user_s"] + stats["cpu_system_s"], "link_realtime": link.process.ready["realtime"]}
    for d in ("down", "up"):
        st = stats[f"{d}link"]
        out[f"{d}_forwarded_pps"] = st["packets_out"] / seconds
        out[f"{d}_delivered_pps"] = counts[f"recv_{d}"] / seconds
        out[f"{d}_delivered"] = counts[f"recv_{d}"] / max(counts[f"sent_{d}"], 1)
        out[f"{d}_timing"] = st["timing"]
        out[f"{d}_sent_pps"] = counts[f"sent_{d}"] / seconds
    out["sustained"] = all(out[f"{d}_delivered"] >= 0.995 and out[f"{d}_timing"]["p99_us"] < 1000
                           and out[f"{d}_sent_pps"] >= 0.99 * pps for d in ("down", "up"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--generator":
        a, b, out_addr, in_addr, pps, seconds = argv[1:7]
        print(json.dumps(generator(a, b, out_addr, in_addr, int(pps), float(seconds))))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="10000,20000,30000,40000", help="offered packets/s per direction")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per rate")
    p.add_argument("--json", action="store_true", help="print all results as JSON")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from netkit.emu.testing import skip_reason
    from netkit.trace import synth, write_mahimahi

    reason = skip_reason()
    if reason:
        print(f"emu_link: cannot run: {reason}", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = str(Path(tmp) / "fast.trace")
        # capacity 1.25x the highest offered rate (1428-byte packets + 4 bytes each)
        write_mahimahi(synth.constant(max(rates) * 1432 * 8 * 1.25 / 1e6, 2), trace)
        print(f"{'offered/dir':>11} | {'sent down/up':>13} | {'forwarded down/up':>17} | "
              f"{'delivered down/up':>17} | "
              f"{'timing p50/p99 us down':>22} | {'up':>9} | link CPU")
        for pps in rates:
            r = one_rate(pps, args.seconds, trace)
            results.append(r)
            dt, ut = r["down_timing"], r["up_timing"]
            sent = f"{r['down_sent_pps']:.0f}/{r['up_sent_pps']:.0f}"
            fwd = f"{r['down_forwarded_pps']:.0f}/{r['up_forwarded_pps']:.0f}"
            dlv = f"{r['down_delivered'] * 100:.2f}%/{r['up_delivered'] * 100:.2f}%"
            print(f"{pps:>11} | {sent:>13} | {fwd:>17} | {dlv:>17} | "
                  f"{dt['p50_us']:>10.0f}/{dt['p99_us']:<11.0f} | "
                  f"{ut['p50_us']:>4.0f}/{ut['p99_us']:<4.0f} | {r['link_cpu_s'] / args.seconds * 100:.0f}%"
                  f"{'' if r['sustained'] else '  (not sustained)'}")
    best = max((r["offered_pps"] for r in results if r["sustained"]), default=0)
    print(f"highest sustained rate: {best} packets/s per direction, both directions at once "
          f"(1400-byte UDP payloads; goal >= 20000 with p99 < 1000 us)")
    if args.json:
        print(json.dumps({"results": results, "highest_sustained_pps": best}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

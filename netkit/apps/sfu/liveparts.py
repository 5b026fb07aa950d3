"""Participants of a live meeting in their own process (`python -m netkit.apps.sfu.liveparts SPEC OUT`), started by
`netkit.apps.sfu.live`: one process per meeting, so one meeting's decoding does not delay another's packets.

SPEC is a JSON file: `{"participants": [{"name", "ssrc", "start_us", "twcc", "tw_send", "netns", "addr", "port"}], "sfu": [ip, port],
"end_us", "decode", "realtime", "kernel_time", "probe"}`. The process opens every participant's UDP socket in its namespace, prints
`ready`, reads the links' clock epoch (`epoch NS`) from stdin, runs each participant as a `MediaParticipant`
on the precise driver until `end_us` (an arrival's time is the kernel's receive timestamp unless
`kernel_time` is false), and writes what the receivers measured to OUT (JSON, atomically).
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from netkit.apps.sfu.client import MediaParticipant, RemoteStream
from netkit.files import atomic_write_text
from netkit.transport.base import Datagram

RESULT_FIELDS = ("decoded_us", "frame_delay_ms", "frame_delay_at_us", "nacks_sent", "recovered", "decode_errors", "lost_unrecovered",
                 "seq_gaps", "received")


class ParticipantEndpoint:
    """A `MediaParticipant` behind the sans-I/O `Endpoint` interface the live drivers run."""

    def __init__(self, part: MediaParticipant, on_receive=None):
        self.part = part
        self.on_receive = on_receive
        self._out: list[bytes] = []

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """A datagram from the SFU."""
        if self.on_receive is not None:
            self.on_receive(data)
        self._out += self.part.receive(data, now)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """What the participant has to send now."""
        out, self._out = self._out, []
        return [Datagram(d) for d in out]

    def get_timer(self) -> int | None:
        """The participant's next frame, report or SR."""
        return self.part.next_wakeup_us()

    def handle_timer(self, now: int) -> None:
        """Send what is due."""
        self._out += self.part.tick(now)


def stream_result(st: RemoteStream, seqs: set[int]) -> dict:
    """What the parent needs of one received stream (JSON-able)."""
    out = {k: getattr(st, k) for k in RESULT_FIELDS}
    out["seqs"] = sorted(seqs)
    return out


def restore_stream(ssrc: int, data: dict) -> RemoteStream:
    """A RemoteStream carrying the measurements a child process reported (for the summary)."""
    st = RemoteStream(ssrc)
    for k in RESULT_FIELDS:
        setattr(st, k, data[k])
    return st


def main(argv: list[str] | None = None) -> int:
    """Run the participants of SPEC; write OUT."""
    spec_path, out_path = (argv or sys.argv[1:])[:2]
    spec = json.loads(Path(spec_path).read_text())
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C and stops us with SIGTERM

    from netkit.apps.sfu.media import encode_clip
    from netkit.apps.sfu.sim import rtx_osn
    from netkit.emu.clock import Clock
    from netkit.emu.driver import UdpEndpointDriver, run, udp_socket

    clip = encode_clip()
    probe = bool(spec.get("probe"))
    parts = [MediaParticipant(p["name"], p["ssrc"], clip, start_us=p["start_us"], decode=spec["decode"],
                              estimator=spec.get("estimator", "trend"), probe=probe, twcc=p.get("twcc", False),
                              tw_send=p.get("tw_send", False), rtx_ssrc=p.get("rtx_ssrc"),
                              rtx_of={int(k): v for k, v in spec.get("rtx_of", {}).items()})
             for p in spec["participants"]]
    socks = [udp_socket(p["netns"], p["addr"], p["port"]) for p in spec["participants"]]
    received: list[dict[int, set[int]]] = [{} for _ in parts]
    print("ready", flush=True)
    line = sys.stdin.readline()
    if not line.startswith("epoch "):
        return 0
    clock = Clock(int(line.split()[1]))

    def recorder(i: int):
        rtx_of = parts[i].rtx_of

        def rec(data: bytes) -> None:
            if len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
                ssrc = int.from_bytes(data[8:12], "big")
                received[i].setdefault(ssrc, set()).add(int.from_bytes(data[2:4], "big"))
                osn = rtx_osn(data) if ssrc in rtx_of else None
                if osn is not None:     # restored from RTX: the media stream has it
                    received[i].setdefault(rtx_of[ssrc], set()).add(osn)
        return rec

    drivers = [UdpEndpointDriver(ParticipantEndpoint(p, recorder(i)), s, tuple(spec["sfu"]), clock,
                                 kernel_time=spec.get("kernel_time", True))
               for i, (p, s) in enumerate(zip(parts, socks))]

    async def go() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        for d, p in zip(drivers, parts):
            loop.call_at(clock.to_loop_time(p.start_us), d.start)
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, clock.to_loop_time(spec["end_us"]) - loop.time()))
        except asyncio.TimeoutError:
            pass
        for d in drivers:
            d.close()

    run(go(), realtime=spec["realtime"])
    result = [{"name": p.name, "ssrc": p.ssrc, "sent_packets": p.sent_packets, "retransmitted": p.retransmitted,
               "rtx_ssrc": p.rtx_ssrc, "rtx_restored": p.rtx_restored,
               "rtx_seqs": {str(s): sorted(received[i].get(s, ())) for s in p.rtx_of if s in received[i]},
               "remote": {str(ssrc): stream_result(st, received[i].get(ssrc, set())) for ssrc, st in p.remote.items()}}
              for i, p in enumerate(parts)]
    if probe:
        for r, p, d in zip(result, parts, drivers):
            r["probe"] = {"sent": [[ts, a, b] for ts, (a, b) in p.sent_frames.items()],
                          "frames": {str(k): st.frame_log or [] for k, st in p.remote.items()},
                          "loop_lateness_us": list(d.loop_lateness_us)}
    atomic_write_text(out_path, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

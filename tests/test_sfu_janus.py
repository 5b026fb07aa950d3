"""Janus (Debian `janus`, VideoRoom) as the SFU baseline: the capture-time stamp survives VP8, header matching finds
forwarding latency through rewritten SSRC/seq/timestamps, bad options fail in one line, and (root, janus
installed) a live 3-party meeting delivers every participant's video to every other and cleans up."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from netkit.emu.testing import skip_reason


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_capture_stamp_survives_vp8_at_a_low_rate():
    import av

    from netkit.apps.sfu.janus_client import HEIGHT, WIDTH, draw_frame, read_stamp, unwrap_stamp

    texture = np.random.default_rng(0).integers(0, 256, (HEIGHT, 2 * WIDTH), dtype=np.uint8)
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt, enc.bit_rate = WIDTH, HEIGHT, "yuv420p", 150_000
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    dec = av.CodecContext.create("libvpx", "r")
    stamps = [1_234_567 + 33_333 * i + (i * 7919 % 1000) for i in range(20)] + [0xFFFFFFFF, 0]
    got = []
    for i, t in enumerate(stamps):
        f = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        f.planes[0].update(draw_frame(i, t, texture).tobytes())
        f.planes[1].update(bytes(WIDTH * HEIGHT // 4))
        f.planes[2].update(bytes(WIDTH * HEIGHT // 4))
        f.pts = i
        for pkt in enc.encode(f):
            for frame in dec.decode(pkt):
                luma = frame.to_ndarray(format="gray")
                got.append(read_stamp(luma))
    assert got == stamps[:len(got)] and len(got) >= len(stamps) - 2
    luma = draw_frame(0, 77, texture)
    luma[3, 3] ^= 0xFF                                  # one flipped pixel inside a block does not change the mean much
    assert read_stamp(luma) == 77
    luma[2:6, 2:6] = 255 - luma[2:6, 2:6]               # a flipped bit fails the check instead of giving a wrong time
    assert read_stamp(luma) is None
    assert unwrap_stamp(0xFFFFFF00, (1 << 32) + 100) == 0xFFFFFF00      # wraps back to the capture before now


def test_header_matching_recovers_latency_through_rewritten_numbers():
    from netkit.apps.sfu.janus import match_forwarding

    rtp_in, rtp_out, truth = [], [], []
    for k in range(300):             # participant 0 sends ssrc 11; Janus forwards to 1 and 2 with its own numbering
        t = 1_000_000_000 + k * 11_000_000
        seq, ts = (60_000 + k) & 0xFFFF, (4_000_000_000 + k * 3000) & 0xFFFFFFFF
        rtp_in.append((t, 0, 11, seq, ts, 900))
        rtp_in.append((t + 3_000_000, 3, 99, seq, ts, 900))       # another meeting's stream with the same numbers
        for host, ssrc, dseq, dts in ((1, 500, 17, 123_456), (2, 600, 40_000, 7)):
            if host == 2 and k % 50 == 7:
                continue                                           # a copy lost before the tap
            lat = 200_000 + (k * 37_000) % 900_000
            rtp_out.append((t + lat, host, ssrc, (seq + dseq) & 0xFFFF, (ts + dts) & 0xFFFFFFFF, 890))
            truth.append(lat)
    rtp_out.append((rtp_out[-1][0] + 1, 1, 500, rtp_out[-1][3], rtp_out[-1][4], 890))     # a resend: not counted twice
    for k in range(20):              # an RTX stream: its own numbering, fits no offset
        rtp_out.append((2_000_000_000 + k * 97_000_000, 1, 777, k * 13, k * 99_991, 400))
    for k in range(8):               # a burst of retransmissions: consecutive numbers fit one offset by chance
        o = rtp_out[2 * (100 + k)]
        rtp_out.append((o[0] + 300_000_000, 2, 888, 5000 + k, o[4], 890))
    meetings = {0: 0, 1: 0, 2: 0, 3: 1}
    got = match_forwarding(rtp_in, rtp_out, meetings)
    assert got["unmatched"] == 1 and (2, 888) in got["streams"]      # headers alone take the burst for a stream
    got = match_forwarding(rtp_in, rtp_out, meetings, media={(0, 11), (3, 99), (1, 500), (2, 600)})
    assert got["streams"] == {(1, 500): (0, 11), (2, 600): (0, 11)}
    assert got["unmatched"] == 0 and got["other_streams"] == 2       # the SDPs' SSRCs leave RTX out
    assert sorted(got["latency_ns"]) == sorted(truth)


def test_cli_refuses_janus_in_the_simulator_in_one_line():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "netkit.cli", "sfu", "bench", "--sfu", "janus", "--duration", "3",
                        "--out", "/tmp/nk-janus-never"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--sfu janus" in r.stderr and "--mode emu" in r.stderr
    assert not os.path.exists("/tmp/nk-janus-never")


def test_missing_janus_binary_is_one_clear_error(monkeypatch):
    from netkit.apps.sfu import janus_server

    monkeypatch.setattr(janus_server.shutil, "which", lambda name: None)
    with pytest.raises(janus_server.JanusMissing, match="janus is not installed .*apt-get install -y janus"):
        janus_server.janus_binary()
    assert isinstance(janus_server.JanusMissing("x"), OSError)     # the CLI prints OSError in one line, exit 2


def _janus_skip() -> str | None:
    if skip_reason() is not None:
        return skip_reason()
    if shutil.which("janus") is None:
        return "janus is not installed (apt-get install -y janus)"
    return None


@pytest.mark.skipif(_janus_skip() is not None, reason=_janus_skip() or "")
def test_janus_meeting_delivers_every_participant_to_every_other():
    from netkit.apps.sfu.janus import run_meetings_janus
    from netkit.apps.sfu.sim import MeetingPlan

    plan = MeetingPlan(participants=3, meetings=1, duration_s=5.0, warmup_s=2.0)
    s = run_meetings_janus(plan)
    rows = s["receivers"]
    assert {(r["receiver"], r["sender"]) for r in rows} == {(a, b) for a in ("m1p1", "m1p2", "m1p3")
                                                            for b in ("m1p1", "m1p2", "m1p3") if a != b}
    for r in rows:
        assert r["fps"] >= 20.0, r                      # about 30: every stream arrives and decodes
        assert r["frame_delay_ms_p50"] is not None and 0 < r["frame_delay_ms_p50"] < 1000, r
    assert s["participant_errors"] == {} and s["stamp_failures"] == 0
    assert s["forward_streams_matched"] == 6            # each of the 6 copies found its original stream
    assert s["forward_latency_ms_p50"] > 0
    assert s["sfu_cpu_s"] > 0 and s["cpu_packets_fraction"] == 1.0
    assert s["seq_gaps"] == 0
    assert not set(s["namespaces"]) & _namespaces()     # cleaned up
    janus = subprocess.run(["pgrep", "-f", "nk-janus-"], capture_output=True, text=True).stdout.split()
    assert not janus, janus                             # no janus of ours left running


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every live process below `root`."""
    children: dict[int, list[int]] = {}
    cmd: dict[int, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            cmd[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = {}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out[c] = cmd.get(c, "")
            todo.append(c)
    return out


@pytest.mark.skipif(_janus_skip() is not None, reason=_janus_skip() or "")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_meeting_stops_janus_and_its_participants(sig, tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    p = subprocess.Popen([sys.executable, "-m", "netkit.cli", "sfu", "bench", "--mode", "emu", "--sfu", "janus",
                          "--participants", "2", "--duration", "30", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        seen.update(_descendants(p.pid))
        if any("janus -C" in c for c in seen.values()) and sum("janus_client" in c for c in seen.values()) == 2:
            break
        time.sleep(0.2)
    time.sleep(2.0)                                       # the meeting is running
    p.send_signal(sig)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
    assert any("janus -C" in c for c in seen.values()), seen
    alive = [pid for pid in seen if os.path.exists(f"/proc/{pid}") and
             open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, {pid: seen[pid] for pid in alive}   # janus, its participants, the links: all gone
    assert not {n for n in _namespaces() if n.startswith(f"nk-{p.pid}-")}
    assert not out.exists()                               # no half-written results

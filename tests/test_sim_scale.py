"""Simulator at scale: compiled and pure builds agree byte for byte; sender state stays bounded."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netkit import fastpath
from netkit.link import Chain, Delay, TraceLink
from netkit.link.loss import BernoulliLoss
from netkit.sim.engine import Simulator
from netkit.sim.topology import two_host_path
from netkit.trace import synth, write_mahimahi
from netkit.transport.cc import FixedWindow
from netkit.transport.stream import _COMPACT_SLOTS, MSS, TRIM_BYTES, StreamReceiver, StreamSender

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter so each build is chosen at import; prints which build ran.
_REPLAY = """
import sys
from netkit import fastpath
from netkit.cli import main
import netkit.transport.stream as stream
rc = main(sys.argv[1:])
print("BUILD", fastpath.compiled(), stream.__file__)
sys.exit(rc)
"""


def _replay(run_dir: Path, trace: Path, pure: bool) -> tuple[str, dict, dict[str, bytes]]:
    run_dir.mkdir()
    out = run_dir / "out"  # the same relative --out for both: it is written into the log headers
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NETKIT_PURE", None)
    if pure:
        env["NETKIT_PURE"] = "1"
    args = ["replay", "--trace", str(trace), "--uplink", str(trace), "--delay", "15", "--loss", "0.02",
            "--queue", "droptail:packets=40", "--app", "cubic", "--app", "reno", "--app", "cbr:2",
            "--duration", "8", "--seed", "3", "--out", "out"]
    proc = subprocess.run([sys.executable, "-c", _REPLAY, *args], env=env, capture_output=True, text=True,
                          cwd=run_dir, check=True)
    build = proc.stdout.strip().splitlines()[-1]
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("sim")  # wall time and speed differ by construction
    logs = {name: (out / name).read_bytes() for name in ("downlink.log", "uplink.log")}
    return build, summary, logs


@pytest.mark.skipif(not fastpath.compiled(), reason=f"compiled build not in use ({fastpath.describe()})")
def test_compiled_and_pure_builds_write_identical_logs(tmp_path):
    trace = tmp_path / "c12.trace"
    write_mahimahi(synth.constant(12, 5), trace)
    c_build, c_summary, c_logs = _replay(tmp_path / "compiled", trace, pure=False)
    p_build, p_summary, p_logs = _replay(tmp_path / "pure", trace, pure=True)
    assert c_build.startswith("BUILD True") and c_build.endswith(".so")
    assert p_build.startswith("BUILD False") and p_build.endswith(".py")
    assert c_logs == p_logs  # Mahimahi logs, byte for byte
    assert c_summary == p_summary
    assert c_summary["flows"][0]["packets_sent"] > 1000 and len(c_logs["downlink.log"]) > 100_000


def test_stale_sources_fall_back_to_pure_python(tmp_path):
    """A source edited after the build must not run as its old compiled self."""
    code = ("import netkit.fastpath as f, hashlib; f.source_hashes = lambda: {}; "
            "f._state['reason'] = 'not selected yet'; print(f._why_not_compiled())")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NETKIT_PURE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    reason = out.stdout.strip()
    assert reason in ("sources changed since the build", "not built (run scripts/build_compiled.py)")


def _lossy_path(sim: Simulator, sender, receiver, mbps=24, queue="droptail:packets=60", loss=0.01):
    fwd = Chain([Delay.ms(20), BernoulliLoss(loss, seed=7), TraceLink(synth.constant(mbps, 10), queue)])
    return two_host_path(sim, fwd, Chain([Delay.ms(20)]), sender, receiver, "stream")


def test_send_buffer_holds_only_unacknowledged_data():
    """An application that keeps the sender fed: held bytes stay within a few windows plus a bound."""
    sim = Simulator(0)
    digest = hashlib.sha256()
    sender = StreamSender("cubic")
    receiver = StreamReceiver(on_data=lambda chunk, t: digest.update(chunk))
    _lossy_path(sim, sender, receiver)
    total = 8_000_000
    block = bytes(range(256)) * 256  # 64 KiB
    expected = hashlib.sha256()
    written = 0
    worst_excess = 0.0
    max_in_flight = 0
    max_cwnd = 0.0
    while sender.done_at is None and sim.now < 60_000_000:
        while written < total and sender.unsent_bytes < 256 * 1024:
            sender.write(block)
            expected.update(block)
            written += len(block)
            if written >= total:
                sender.close()
        sim.run(sim.now + 10_000)
        held = sender.buffered_bytes - sender.unsent_bytes  # in flight, awaiting retransmission, or acked
        max_cwnd = max(max_cwnd, sender.cc.cwnd / 1500 * MSS)  # in stream bytes
        worst_excess = max(worst_excess, held - 3 * max_cwnd)
        max_in_flight = max(max_in_flight, sender.packets_in_flight)
        assert len(sender._slots) <= 2 * max_in_flight + _COMPACT_SLOTS + 10
    assert sender.done_at is not None and sender.packets_lost > 50
    assert receiver.delivered == written >= total and digest.digest() == expected.digest()
    # beyond unsent data the sender holds at most the few windows a loss recovery spans (data sent
    # since the oldest unacknowledged chunk left) plus the trimming slack, however long the transfer
    print(f"held beyond unsent data minus 3 x the largest window: at most {worst_excess:.0f} bytes")
    assert worst_excess <= TRIM_BYTES
    assert sender.buffered_bytes < TRIM_BYTES  # at the end: all acknowledged, nearly all dropped


def test_data_written_up_front_is_released_as_it_is_acknowledged():
    sim = Simulator(0)
    sender = StreamSender("reno")
    payload = os.urandom(4_000_000)
    sender.write(payload)
    sender.close()
    receiver = StreamReceiver(keep_data=True)
    _lossy_path(sim, sender, receiver, loss=0.02)
    seen = []
    while sender.done_at is None and sim.now < 60_000_000:
        sim.run(sim.now + 100_000)
        seen.append(sender.buffered_bytes)
    assert bytes(receiver.data) == payload and sender.bytes_written == len(payload)
    assert seen[0] > 3_000_000 and seen[-1] < TRIM_BYTES
    assert all(b >= a for a, b in zip(seen[1:], seen))  # never grows: only trimmed


def test_per_ack_state_bounded_with_100k_packets_in_flight():
    """A fixed window of 100,000 packets: the sent-packet table holds about the window, no more."""
    sim = Simulator(0)
    window = 100_000
    sender = StreamSender(FixedWindow(MSS, window), bulk=True)
    fwd = Chain([Delay.ms(20), TraceLink(synth.constant(1000, 10), None)])
    _, flow = two_host_path(sim, fwd, Chain([Delay.ms(20)]), sender, StreamReceiver(), "fixed")
    sim.run(2_500_000)
    assert sender.packets_in_flight == window
    assert len(flow.record.arrivals_us) > 150_000  # the window turned over at least once
    assert window <= len(sender._slots) <= 2 * window + _COMPACT_SLOTS

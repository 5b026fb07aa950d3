"""The same KV streaming client and server live (UDP, netkit stream, the one harness) agree with the simulator."""
import pytest

from netkit.apps.kvstream.profile import StreamProfile
from netkit.apps.kvstream.streamsim import kv_path, simulate_request
from netkit.emu.testing import skip_reason
from netkit.trace import synth, write_mahimahi

LEVELS = [f"kvstream-L{i}" for i in range(5)]
PROFILE = StreamProfile.synthetic(
    6, dict(zip(LEVELS, [250_000, 200_000, 150_000, 125_000, 100_000]), int8=375_000, text=600),
    dict(zip(LEVELS, [5_000, 4_500, 4_000, 3_500, 3_000]), int8=1_000, text=375_000),
    dict(zip(LEVELS, [0.9998, 0.9992, 0.998, 0.994, 0.988]), int8=0.99999, text=1.0))

pytestmark = [pytest.mark.emu, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]


@pytest.mark.parametrize("policy", ["int8", "kvstream"])
def test_live_request_matches_the_simulator(tmp_path, policy):
    from netkit.apps.kvstream.streamlive import run_live

    trace = tmp_path / "c12.trace"
    write_mahimahi(synth.constant(12, 10), trace)
    path = kv_path(str(trace), None, 20, "droptail:packets=100")
    live, server, client, stats = run_live(PROFILE, policy, path, target_s=2.0)
    assert live.chunks_ok and sorted(client.chunks) == list(range(PROFILE.n_chunks))
    assert all(r.acked_us is not None for r in server.records)
    sim, _, _ = simulate_request(PROFILE, policy, path, 2.0, int(live.offset_s * 1e6))
    assert live.ttft_s == pytest.approx(sim.ttft_s, rel=0.15, abs=0.1)
    if policy == "int8":
        assert live.options == sim.options == ["int8"] * PROFILE.n_chunks
    else:
        assert not live.miss and not sim.miss
    assert stats is not None and stats["downlink"]["packets_out"] > 0

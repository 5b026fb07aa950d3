"""Every scheme over the simulator: exactly-once in-order rendering, the MTU bound, and sane metrics."""
import pytest

from netkit.net import LinkDirection
from netkit.apps.tokenstream.schemes import SCHEMES, make_endpoints
from netkit.apps.tokenstream.simrun import simulate
from netkit.apps.tokenstream.sources import synthetic
from netkit.link.packet import IP_UDP_HEADER_BYTES
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD

SCHED = synthetic(150, rate_tps=40, jitter_ms=8, seed=5)
C12 = "constant:12"
LOSSY = [LinkDirection(C12, loss=0.15, loss_model="bernoulli", delay_ms=30),
         LinkDirection(C12, loss=0.2, loss_model="ge", loss_burst=4, delay_ms=30)]


def _assert_exactly_once_in_order(run, n):
    indices = [i for i, _ in run.receiver.log.events]
    assert indices == list(range(n))
    times = [t for _, t in run.receiver.log.events]
    assert times == sorted(times)
    assert b"".join(run.receiver.log.texts) == b"".join(SCHED.tokens)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lossless_every_scheme_renders_every_token_once_in_order(scheme):
    run = simulate(scheme, SCHED, LinkDirection(C12, delay_ms=20), seed=1)
    _assert_exactly_once_in_order(run, len(SCHED))
    assert run.metrics["delivered_fraction"] == 1.0
    assert run.metrics["stall_ratio"] < 0.05  # only the link's millisecond granularity


@pytest.mark.parametrize("path", LOSSY, ids=["bernoulli", "ge"])
@pytest.mark.parametrize("scheme", ["eloquent", "retransmit", "duplicate"])
def test_reliable_schemes_render_every_token_once_in_order_under_loss(scheme, path):
    run = simulate(scheme, SCHED, path, seed=2)
    _assert_exactly_once_in_order(run, len(SCHED))
    assert run.receiver.finished_at is not None and run.sender.done


@pytest.mark.parametrize("path", LOSSY, ids=["bernoulli", "ge"])
def test_udp_renders_in_order_at_most_once_and_loses_tokens(path):
    run = simulate("udp", SCHED, path, seed=2)
    indices = [i for i, _ in run.receiver.log.events]
    assert indices == sorted(set(indices))
    assert 0.5 < run.metrics["delivered_fraction"] < 1.0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_packet_exceeds_the_mtu(scheme):
    """Large tokens and a GE path at 20 % loss: unacknowledged tokens pile up past one MTU."""
    from netkit.apps.tokenstream.tokens import TokenSchedule

    big = TokenSchedule(tuple(i * 5000 for i in range(300)), tuple(bytes([97 + i % 26]) * (200 + i % 56)
                                                                   for i in range(300)))
    run = simulate(scheme, big, LinkDirection(C12, loss=0.2, loss_model="ge", loss_burst=8, delay_ms=100), seed=3)
    assert run.sender.max_datagram <= MAX_DATAGRAM_PAYLOAD
    assert run.sender.max_datagram + IP_UDP_HEADER_BYTES <= 1500
    if scheme == "eloquent":
        assert run.sender.max_datagram > 1000  # the cap was actually reached


def test_eloquent_beats_retransmission_under_loss_and_is_deterministic():
    path = LinkDirection(C12, loss=0.1, delay_ms=50)
    e = simulate("eloquent", SCHED, path, seed=4).metrics
    r = simulate("retransmit", SCHED, path, seed=4).metrics
    assert e["stall_ratio"] < 0.6 * r["stall_ratio"]
    assert e["token_delay_ms_p95"] < r["token_delay_ms_p95"]
    assert simulate("eloquent", SCHED, path, seed=4).metrics == e
    d = simulate("duplicate", SCHED, path, seed=4).metrics
    assert 1.5 < d["bytes_overhead"] / r["bytes_overhead"] < 2.1  # two copies, fewer retransmissions


def test_make_endpoints_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="unknown scheme"):
        make_endpoints("tcp")
    with pytest.raises(ValueError, match="k >= 2"):
        make_endpoints("duplicate", copies=1)


def test_streams_at_a_seeded_offset_into_a_long_trace_still_complete():
    """The request starts at a seeded point of the trace (not at 0), and the run lasts until the stream is done."""
    from pathlib import Path

    walk = str(Path(__file__).resolve().parents[1] / "traces" / "randomwalk-6mbps-seed1.trace")
    starts = set()
    for seed in range(3):
        run = simulate("eloquent", SCHED, LinkDirection(walk, loss=0.1, delay_ms=30), seed=seed)
        assert run.metrics["delivered_fraction"] == 1.0
        starts.add(run.metrics["start_s"])
    assert len(starts) == 3 and max(starts) > 1.0
    udp = simulate("udp", SCHED, LinkDirection(walk, loss=0.1, delay_ms=30), seed=0)
    assert 0.8 < udp.metrics["delivered_fraction"] < 1.0  # lost for good; the run ends at its deadline

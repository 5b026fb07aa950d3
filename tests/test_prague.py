"""Prague congestion control: codepoint, alpha EWMA per virtual RTT, alpha/2 reduction, loss fallback."""
from __future__ import annotations

import pytest

from netkit.link.packet import ECT1
from netkit.transport.cc import CONTROLLERS, make_controller
from netkit.transport.prague import Prague
from netkit.transport.stream import MSS, StreamSender

MS = 1000


def ca(cwnd_packets: int = 100, alpha: float = 0.5) -> Prague:
    """A Prague controller in congestion avoidance with a given window and alpha."""
    cc = Prague(MSS)
    cc.cwnd = cwnd_packets * MSS
    cc.ssthresh = cc.cwnd
    cc.alpha = alpha
    return cc


def test_registered_and_sends_ect1() -> None:
    assert CONTROLLERS["prague"] is Prague
    cc = make_controller("prague", MSS)
    assert isinstance(cc, Prague) and cc.ecn_codepoint == ECT1
    sender = StreamSender("prague", pacing=True, ecn=True, bulk=True)
    dgrams = sender.datagrams_to_send(0)
    assert dgrams and {d.ecn for d in dgrams} == {ECT1}
    assert cc.alpha == 1.0  # starts at the maximum, like Linux


def test_alpha_is_an_ewma_of_the_ce_fraction_with_gain_one_sixteenth() -> None:
    cc = ca(alpha=1.0)
    cc.recovery_start = 10**9  # keep reductions out of the way
    cc.on_ce(0, 10, 0, 20 * MS, -1)  # opens the round at t=0
    cc.on_ce(5, 10, 30 * MS, 20 * MS, 5 * MS)  # 5 of 20 packets CE, 30 ms later: round ends
    assert cc.alpha_updates == 1
    assert cc.alpha == pytest.approx(1.0 + (5 / 20 - 1.0) / 16)
    a1 = cc.alpha
    cc.on_ce(0, 10, 60 * MS, 20 * MS, 35 * MS)  # a clean round
    assert cc.alpha == pytest.approx(a1 * 15 / 16)


def _alpha_update_times(rtt_ms: int, until_ms: int) -> list[int]:
    """The ms at which alpha is updated when one clean ACK arrives every ms, each for a packet sent an RTT ago."""
    cc = ca()
    cc.recovery_start = 10**9
    updates = []
    for t in range(0, until_ms + 1):
        cc.on_ce(0, 1, t * MS, rtt_ms * MS, (t - rtt_ms) * MS)
        updates.append(cc.alpha_updates)
    return [t for t in range(1, until_ms + 1) if updates[t] != updates[t - 1]]


def test_alpha_updates_once_per_virtual_rtt_of_at_least_25ms() -> None:
    # RTT 10 ms: ACKs every ms; the round closes only after 25 ms, not after one 10 ms RTT.
    assert _alpha_update_times(10, 100) == [25, 50, 75, 100]
    # RTT 40 ms: a round needs a packet sent after it began to be acknowledged (one real RTT).
    assert _alpha_update_times(40, 120) == [40, 80, 120]


def test_ce_reduces_by_alpha_over_two_once_per_rtt() -> None:
    cc = ca(cwnd_packets=100, alpha=0.5)
    cc.on_ce(1, 2, 100 * MS, 20 * MS, 80 * MS)
    assert cc.cwnd == pytest.approx(100 * MSS * (1 - 0.25))
    assert cc.ce_events == 1 and cc.ssthresh == cc.cwnd
    # More CE for packets sent before that reduction: no second cut in the same round trip.
    cc.on_ce(3, 3, 110 * MS, 20 * MS, 95 * MS)
    assert cc.cwnd == pytest.approx(75 * MSS) and cc.ce_events == 1
    # CE on a packet sent after the reduction: the next cut, with the current alpha.
    cc.alpha = 0.2
    cc.on_ce(1, 2, 115 * MS, 20 * MS, 105 * MS)
    assert cc.cwnd == pytest.approx(75 * MSS * 0.9) and cc.ce_events == 2


def test_slow_start_ends_at_first_ce_with_a_halving() -> None:
    cc = Prague(MSS)
    assert cc.in_slow_start()
    cc.on_ack(10 * MSS, 20 * MS, 20 * MS, 20 * MS, 0)
    assert cc.cwnd == 20 * MSS
    cc.on_ce(1, 2, 40 * MS, 20 * MS, 20 * MS)
    assert cc.cwnd == pytest.approx(10 * MSS)  # alpha starts at 1
    assert not cc.in_slow_start()
    # ACKs for packets sent before the cut do not grow the window.
    cc.on_ack(2 * MSS, 41 * MS, 20 * MS, 20 * MS, 30 * MS)
    assert cc.cwnd == pytest.approx(10 * MSS)


def test_loss_falls_back_to_halving() -> None:
    cc = ca(cwnd_packets=80, alpha=0.01)
    cc.on_congestion(90 * MS, 100 * MS, 20 * MS)
    assert cc.cwnd == pytest.approx(40 * MSS) and cc.ssthresh == pytest.approx(40 * MSS)
    assert cc.loss_events == 1
    cc.on_congestion(95 * MS, 105 * MS, 20 * MS)  # same round trip
    assert cc.cwnd == pytest.approx(40 * MSS)


def test_minimum_window() -> None:
    cc = ca(cwnd_packets=2, alpha=1.0)
    cc.on_ce(1, 1, 100 * MS, 20 * MS, 90 * MS)
    assert cc.cwnd == 2 * MSS


@pytest.mark.parametrize(("rtt_ms", "per_rtt"), [(5, 0.04), (12.5, 0.25), (25, 1.0), (50, 1.0)])
def test_additive_increase_scaled_to_a_25ms_virtual_rtt(rtt_ms: float, per_rtt: float) -> None:
    cc = ca(cwnd_packets=100)
    cc.recovery_start = -1
    start = cc.cwnd
    # One RTT's worth of ACKs (a window), in 100 ACKs of one packet each.
    for i in range(100):
        cc.on_ack(MSS, 1000 * MS + i, int(rtt_ms * MS), int(rtt_ms * MS), 999 * MS)
    assert (cc.cwnd - start) / MSS == pytest.approx(per_rtt, rel=0.02)


def test_rate_growth_is_rtt_independent_below_25ms() -> None:
    """Rate gained per second is the same at 5 ms and 20 ms RTT (a 25 ms flow's)."""
    gains = []
    for rtt_ms in (5, 20):
        cc = ca(cwnd_packets=50)
        cc.recovery_start = -1
        rtt = rtt_ms * MS
        start_rate = cc.cwnd / rtt
        for r in range(1000 // rtt_ms):  # one second of round trips
            acked = int(cc.cwnd // MSS)
            for _ in range(acked):
                cc.on_ack(MSS, 1000 * MS, rtt, rtt, 999 * MS)
        gains.append((cc.cwnd / rtt - start_rate) * 1e6 / MSS)  # packets/s gained per second
    assert gains[0] == pytest.approx(gains[1], rel=0.05)
    assert gains[1] == pytest.approx(1 / 0.025**2, rel=0.05)


def test_pacing_rate() -> None:
    cc = ca(cwnd_packets=100)
    assert cc.pacing_rate(20 * MS) == pytest.approx(100 * MSS / (20 * MS))
    ss = Prague(MSS)
    assert ss.pacing_rate(20 * MS) == pytest.approx(2 * ss.cwnd / (20 * MS))

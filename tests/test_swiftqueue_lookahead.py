"""The bottleneck lookahead behind the oracle: it replays the simulated DualPI2 link's state forward exactly."""
from __future__ import annotations

import numpy as np
import pytest

from netkit.apps.swiftqueue import app as sq_app
from netkit.apps.swiftqueue import scenario
from netkit.apps.swiftqueue.lookahead import LookaheadOracle, LookaheadRecorder
from netkit.experiment.runner import run
from netkit.experiment.spec import parse_experiment

TRACE = "traces/const-12mbps.trace"


class _AtSend(LookaheadRecorder):
    """Records the lookahead at every send (with the queue the policy chose), not at every ACK."""

    def choose(self, now: int) -> bool:
        in_l = self.inner.choose(now)
        l_us, c_us = self.view.delays_us(now + self.fwd_delay_us, self.packet_bytes)
        self.sends.append((now, l_us, c_us, in_l))
        return in_l

    def observe(self, sample) -> None:
        self.inner.observe(sample)


def _lookahead_against_actual(monkeypatch, policy: str, trace: str = TRACE, mix: str = "bursts", **flow):
    """(predicted link delay, actual one-way delay minus propagation) in µs of the flow's packets, by queue."""
    monkeypatch.setattr(sq_app, "LookaheadRecorder", _AtSend)
    monkeypatch.setattr(_AtSend, "sends", [], raising=False)
    exp = parse_experiment(scenario.experiment(trace, 5, policy, duration_s=8.0, mix=mix, record_lookahead=True,
                                               **flow))
    res = run(exp)
    rec = res.records[0]
    t = np.frombuffer(rec.arrivals_us, dtype=np.int64)
    d = np.frombuffer(rec.delays_us, dtype=np.int64)
    actual = dict(zip((t - d).tolist(), d.tolist()))
    fwd = res.apps[0].fwd_delay_us()
    out = []
    for now, l_us, c_us, in_l in _AtSend.sends:
        if now in actual:
            out.append((l_us if in_l else c_us, actual[now] - fwd, in_l))
    return np.array(out)


def test_l_queue_lookahead_is_exact_to_the_millisecond(monkeypatch):
    # every packet in L: nothing that arrives later can delay it except C's WRR share, which the replay has
    x = _lookahead_against_actual(monkeypatch, "l4s")
    assert len(x) > 300
    err = np.abs(x[:, 1] - x[:, 0])
    assert np.mean(err <= 1000) > 0.97
    assert x[:, 1].max() > 20_000  # the bursts did build an L backlog worth predicting


def test_c_queue_lookahead_is_a_lower_bound_at_most_one_slot_off(monkeypatch):
    # C packets: later L arrivals take precedence, which the replay cannot know: it may only under-read
    x = _lookahead_against_actual(monkeypatch, "classic")
    under = x[:, 1] - x[:, 0]
    assert np.mean(under >= -1000) > 0.97
    assert np.median(np.abs(under)) <= 1000


def test_later_arrivals_of_the_l4s_run_close_most_of_the_c_gap(monkeypatch):
    from netkit.apps.swiftqueue.dataset import simulate

    future = simulate(TRACE, 5, "mixed", "l4s", duration_s=8.0, record_arrivals=True).arrivals
    assert future is not None and len(future) > 1000 and (future[:, 3] == 1).any()
    alone = _lookahead_against_actual(monkeypatch, "classic", mix="mixed")
    ahead = _lookahead_against_actual(monkeypatch, "classic", mix="mixed", oracle_future=future)
    under = [np.percentile(x[:, 1] - x[:, 0], 99) for x in (alone, ahead)]
    assert under[1] < under[0]


def test_oracle_needs_a_bound_bottleneck():
    with pytest.raises(RuntimeError, match="simulator only"):
        LookaheadOracle(10_000).choose(0)


class _StubView:
    """C faster between 100 and 200 ms of entry time, L otherwise."""

    def delays_us(self, t_enter: int, size: int) -> tuple[int, int]:
        return (30_000, 2_000) if 100_000 <= t_enter < 200_000 else (1_000, 5_000)


def test_stale_oracle_decides_on_the_state_of_one_rtt_before():
    fresh, stale = LookaheadOracle(10_000), LookaheadOracle(10_000, stale_us=20_000)
    fresh.bind(_StubView())
    stale.bind(_StubView())
    times = range(0, 300_000, 5_000)
    f = {t: fresh.choose(t) for t in times}
    s = {t: stale.choose(t) for t in times}
    assert not f[90_000] and f[190_000] and f[80_000]  # enters the bottleneck 10 ms later
    assert all(s[t] == (f[t - 20_000] if t >= 20_000 else True) for t in times)
    assert stale.switches == fresh.switches == 2

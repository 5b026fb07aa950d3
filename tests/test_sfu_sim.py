"""Simulated meetings: every receiver gets every other participant's video through the P4 SFU and the software
baseline; a constrained receiver moves down a layer in time and keeps >= 7 fps; uplink losses are recovered
by NACK/RTX through the control plane's sequence mapping, leaving no gaps."""
from __future__ import annotations

import pytest

from netkit.apps.sfu.sim import MeetingPlan, run_meetings

PLAN = MeetingPlan(participants=3, meetings=1, traces=("constant:10", "constant:10", "constant:1"), duration_s=6)


@pytest.fixture(scope="module")
def results():
    return {sfu: run_meetings(PLAN, sfu) for sfu in ("scallop", "software")}


@pytest.mark.parametrize("sfu", ["scallop", "software"])
def test_three_party_meeting(results, sfu):
    s = results[sfu]
    rows = s["receivers"]
    assert sorted((r["receiver"], r["sender"]) for r in rows) == sorted(
        (f"m1p{a}", f"m1p{b}") for a in (1, 2, 3) for b in (1, 2, 3) if a != b)
    for r in rows:
        if r["receiver"] == "m1p3":                      # behind 1 Mbit/s
            assert 7.0 <= r["fps"] < 20 and r["max_freeze_ms"] < 500
        else:
            assert r["fps"] >= 29 and r["max_freeze_ms"] < 100
        assert r["decode_errors"] == 0
    downs = [c for c in s["layer_changes"] if c["receiver"] == "m1p3"]
    assert downs and downs[0]["t_s"] <= 2.0 and downs[0]["to"] < downs[0]["from"]
    assert all(c["receiver"] == "m1p3" for c in s["layer_changes"])
    assert s["seq_gaps"] == 0 and s["bad_input"] == {}
    if sfu == "scallop":
        assert 0 < s["cpu_packets_fraction"] <= 0.035 and s["cpu_bytes_fraction"] < s["cpu_packets_fraction"]
    else:
        assert s["cpu_packets_fraction"] == 1.0


def test_same_decisions_both_sfus(results):
    assert results["scallop"]["layer_changes"] == results["software"]["layer_changes"]
    assert results["scallop"]["receivers"] == results["software"]["receivers"]


def test_uplink_loss_recovered_by_nack_through_the_p4_sfu():
    s = run_meetings(MeetingPlan(participants=3, traces=("constant:10",), duration_s=4, up_loss=0.02), "scallop")
    assert sum(r["nacks"] for r in s["receivers"]) > 10
    assert sum(r["recovered"] for r in s["receivers"]) >= sum(r["nacks"] for r in s["receivers"]) * 0.9
    assert s["seq_gaps"] == 0 and min(r["fps"] for r in s["receivers"]) >= 28
    assert set(s["cpu_packets_by_kind"]) == {"rtcp_rr", "rtcp_nack"}     # RR+REMB compounds and NACKs


def test_same_plan_and_seed_same_summary():
    plan = MeetingPlan(participants=3, traces=("constant:10", "constant:0.8"), duration_s=3, up_loss=0.01,
                       decode=False)
    a, b = run_meetings(plan, "scallop"), run_meetings(plan, "scallop")
    wall = ("forward_latency_ms_p50", "forward_latency_ms_p99", "forward_latency_ms_mean")   # this machine's clock
    assert {k: v for k, v in a.items() if k not in wall} == {k: v for k, v in b.items() if k not in wall}

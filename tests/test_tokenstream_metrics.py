"""The metric definitions of docs/tokenstream.md on hand-worked examples."""
import math

import pytest

from netkit.apps.tokenstream.metrics import stall_time_us, token_metrics


def test_no_stall_when_every_token_arrives_with_the_same_delay():
    gen = [0, 30, 60, 90]
    stall, span, d = stall_time_us(gen, [g + 50 for g in gen])
    assert (stall, span, d) == (0, 90, 50)


def test_one_late_token_blocks_its_successors_once():
    # token 1 is 100 late; tokens 2 and 3 render with it: stall is the union [80, 180) = 100 µs
    gen = [0, 30, 60, 90]
    render = [50, 180, 180, 180]
    stall, span, _ = stall_time_us(gen, render)
    assert stall == 100 and span == 180 - 50
    m = token_metrics(gen, render, token_bytes=10, bytes_sent=250, request_us=0)
    assert m["stall_ratio"] == pytest.approx(100 / 130)
    assert m["ttft_ms"] == pytest.approx(0.05)
    assert m["bytes_overhead"] == 25
    assert m["token_delay_ms_p50"] == pytest.approx((90 + 120) / 2 / 1000)  # delays 50, 150, 120, 90 µs


def test_tokens_never_rendered_are_left_out():
    gen = [0, 30, 60]
    m = token_metrics(gen, [40, None, 100], token_bytes=3, bytes_sent=3)
    assert m["rendered"] == 2 and m["delivered_fraction"] == pytest.approx(2 / 3)
    # D = 40; e = [40, 100]; token 2 renders at 100: no stall
    assert m["stall_ratio"] == 0


def test_nothing_rendered():
    m = token_metrics([0, 1], [None, None], 2, 100)
    assert m["stall_ratio"] == 0 and math.isnan(m["ttft_ms"])

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


def test_a_token_that_never_arrives_stalls_until_the_response_end():
    gen = [0, 30, 60]
    m = token_metrics(gen, [40, None, 100], token_bytes=3, bytes_sent=3)
    assert m["rendered"] == 2 and m["delivered_fraction"] == pytest.approx(2 / 3) and m["complete"] == 0
    # D = 40, e = [40, 70, 100]; T_end = max(100, e_last + mean gap 30) = 130: token 1 stalls [70, 130)
    assert m["stall_ms"] == pytest.approx(0.060) and m["render_span_ms"] == pytest.approx(0.090)
    assert m["stall_ratio"] == pytest.approx(60 / 90)
    assert m["stall_ratio_rendered"] == 0  # the old measure ignored the lost token


def test_losing_a_token_never_beats_delivering_it_late():
    gen = [0, 30, 60, 90]
    on_time = [g + 40 for g in gen]
    for lost in range(4):
        lossy = list(on_time)
        lossy[lost] = None
        charged = token_metrics(gen, lossy, 4, 4)["stall_ratio"]
        assert charged > 0
        for late in (5, 20, 30):  # delivered late, but within the response
            delayed = list(on_time)
            delayed[lost] = max(on_time[lost] + late, delayed[lost])
            delayed = [max(r, delayed[lost]) if i > lost else r for i, r in enumerate(delayed)]  # in order
            assert token_metrics(gen, delayed, 4, 4)["stall_ratio"] <= charged


def test_skipping_a_lost_token_is_charged_like_waiting_for_it():
    # udp renders token 2 on time although token 1 never came; the text still has a hole
    gen = [0, 30, 60, 90]
    m = token_metrics(gen, [40, None, 100, 130], 4, 4)
    assert m["stall_ms"] == pytest.approx((160 - 70) / 1000)  # T_end = 130 + 30


def test_nothing_rendered():
    m = token_metrics([0, 1], [None, None], 2, 100)
    assert m["stall_ratio"] == 1 and m["complete"] == 0 and math.isnan(m["ttft_ms"])

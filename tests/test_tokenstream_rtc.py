"""WebRTC demo: Eloquent on an unordered no-retransmit data channel against a reliable ordered one (aiortc)."""
import pytest

from netkit.apps.tokenstream.sources import synthetic

pytest.importorskip("aiortc")


def test_datachannel_demo_renders_everything_and_eloquent_stalls_less():
    from netkit.apps.tokenstream.rtc import run_rtc_demo

    sched = synthetic(60, rate_tps=40, jitter_ms=5, seed=2)
    res = run_rtc_demo(sched, loss=0.15, seed=1)
    for scheme in ("eloquent", "reliable"):
        m = res[scheme]
        assert [i for i, _ in m["events"]] == list(range(len(sched))), scheme
        assert m["text"] == b"".join(sched.tokens)
        assert m["sctp_dropped"] > 0
    assert res["eloquent"]["stall_ratio"] < res["reliable"]["stall_ratio"]

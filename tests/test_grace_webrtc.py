"""WebRTC demo: GRACE over an unordered, no-retransmission aiortc data channel across a lossy live netkit link."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("aiortc")
pytest.importorskip("torch")


@pytest.mark.emu
def test_webrtc_demo_delivers_and_decodes_frames_under_loss(tmp_path, capsys):
    from netkit.cli import main
    from netkit.emu.testing import skip_reason

    why = skip_reason()
    if why:
        pytest.skip(why)
    out = tmp_path / "rtc"
    rc = main(["grace", "webrtc", "--frames", "30", "--loss", "0.2", "--delay", "20", "--seed", "1",
               "--out", str(out)])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    m, ch, link = s["metrics"], s["channel"], s["link_downlink"]
    assert not ch["timed_out"] and ch["messages_sent"] == 300          # 10 GRACE packets per frame, one message each
    assert link["dropped"] > 0 and ch["messages_received"] < ch["messages_sent"]   # the live link really lost some
    assert ch["messages_received"] > 0.6 * ch["messages_sent"]          # ... and SCTP resent none of them
    assert ch["feedback_received"] > 0                                   # arrival masks came back for resync
    assert m["frames_decoded"] >= 27 and m["undecodable_ratio"] <= 0.1   # frames decode from partial packet sets
    assert m["ssim_db"] > 4
    assert (out / "frames.png").stat().st_size > 1000
    assert "frames rendered" in capsys.readouterr().out


def test_webrtc_bad_option_is_one_line_and_exit_2(tmp_path, capsys):
    from netkit.cli import main

    assert main(["grace", "webrtc", "--loss", "1.2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--loss" in err[0]
    assert not (tmp_path / "o").exists()

"""GRACE bench: metric definitions, baselines under loss, the CLI's summary and its errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("zfec")

from netkit.apps.grace import data  # noqa: E402
from netkit.apps.grace.baselines import ClassicReceiver, ClassicSender, split_nals  # noqa: E402
from netkit.apps.grace.metrics import StreamResult, frame_psnr, stream_metrics  # noqa: E402
from netkit.cli import main  # noqa: E402


def _clip(n=8):
    rng = np.random.default_rng(0)
    return data.synthetic_clip(data.read_still("coffee.png"), n, rng, width=64, height=48)


def test_unrendered_frames_count_as_the_frozen_previous_frame_and_as_stalls():
    orig = _clip(20)
    iv = 40.0
    perfect = StreamResult(list(orig), [t * iv + 50 for t in range(20)], [t * iv for t in range(20)], 1000, iv)
    m = stream_metrics(orig, perfect)
    assert m["undecodable_ratio"] == 0 and m["stall_ms_per_min"] == 0 and m["psnr_db"] == 100.0
    frozen = list(orig)
    times = [t * iv + 50 for t in range(20)]
    for t in range(5, 15):  # ten frames missing: a 440 ms gap between rendered frames 4 and 15
        frozen[t], times[t] = None, None
    m2 = stream_metrics(orig, StreamResult(frozen, times, [t * iv for t in range(20)], 1000, iv))
    assert m2["undecodable_ratio"] == 0.5
    assert m2["stall_ms_per_min"] == pytest.approx((11 * iv - iv) * 60000 / (20 * iv))
    expected = np.mean([100.0] * 10 + [frame_psnr(orig[t], orig[4]) for t in range(5, 15)])
    assert m2["psnr_db"] == pytest.approx(expected)
    assert m2["kbps"] == pytest.approx(1000 * 8 / 800)


def test_nothing_rendered_stalls_the_whole_clip():
    orig = _clip(10)
    res = StreamResult([None] * 10, [None] * 10, [t * 40.0 for t in range(10)], 0, 40.0)
    m = stream_metrics(orig, res)
    assert m["undecodable_ratio"] == 1 and m["stall_ms_per_min"] == pytest.approx(60000.0)


def test_h264_strict_loses_the_chain_until_a_pli_keyframe_and_fec_recovers():
    frames = _clip(12)
    for fec, drop, lost in ((0.0, 1, True), (0.2, 2, False), (0.2, 3, True)):
        tx = ClassicSender("h264", 64, 48, 25, 300, packets=10, fec=fec)
        rx = ClassicReceiver("h264")
        rendered = []
        for t, f in enumerate(frames):
            for i, p in enumerate(tx.encode(f)):
                if not (t == 4 and i < drop):
                    rendered += [d.frame for d in rx.receive_packet(p, 40.0 * t)]
            rendered += [d.frame for d in rx.handle_timer(40.0 * t + 40)]
            fb = rx.feedback_to_send()
            if fb:
                tx.receive_feedback(fb)
        if lost:  # frame 4 undecodable, PLI, key frame at 5
            assert rendered == [t for t in range(12) if t != 4] and tx.keyframes == 2
        else:
            assert rendered == list(range(12)) and tx.keyframes == 1


def test_h264_strict_frames_after_a_loss_wait_for_the_keyframe():
    frames = _clip(12)
    tx = ClassicSender("h264", 64, 48, 25, 300, packets=4)
    rx = ClassicReceiver("h264")
    rendered, pli = [], []
    for t, f in enumerate(frames):
        for i, p in enumerate(tx.encode(f)):
            if not (t == 3 and i == 0):
                rendered += [d.frame for d in rx.receive_packet(p, 40.0 * t)]
        fb = rx.feedback_to_send()
        if fb:
            pli.append(fb)
        if t == 7:  # the PLI reaches the sender late
            tx.receive_feedback(pli[0])
    assert rendered == [0, 1, 2, 8, 9, 10, 11]


def test_split_nals_finds_the_slices():
    tx = ClassicSender("h264", 64, 48, 25, 300, packets=3, slices=True)
    pkts = tx.encode(_clip(1)[0])
    assert len(pkts) == 3  # three macroblock rows -> three slices


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from netkit.apps.grace.train import TINY, save_model, train

    model, _ = train(TINY)
    path = tmp_path_factory.mktemp("gm") / "tiny.pt"
    save_model(model, path, {"name": "tiny"})
    return path


def test_bench_cli_writes_the_summary(tiny_model, tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(["grace", "bench", "--video", "carphone_pristine.mp4", "--frames", "16", "--loss", "0", "0.4",
               "--model", str(tiny_model), "--schemes", "h264,h264_fec20,concealment", "--out", str(out)])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert set(s["schemes"]) == {"grace", "h264", "h264_fec20", "concealment"}
    for m in s["schemes"].values():
        assert set(m) == {"ssim_db", "psnr_db", "undecodable_ratio", "stall_ms_per_min", "frame_delay_ms_p95", "kbps"}
    assert [r["loss"] for r in s["by_loss"]] == [0.0, 0.4]
    zero, lossy = (r["schemes"] for r in s["by_loss"])
    assert all(m["undecodable_ratio"] == 0 for m in zero.values())
    assert lossy["h264"]["undecodable_ratio"] > 0.5  # 10 packets per frame at 40 % loss
    assert lossy["grace"]["undecodable_ratio"] < lossy["h264"]["undecodable_ratio"]
    mean = np.mean([zero["h264"]["ssim_db"], lossy["h264"]["ssim_db"]])
    assert s["schemes"]["h264"]["ssim_db"] == pytest.approx(mean)
    assert (out / "config.json").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--video", "nope.mp4", "--loss", "0.1"], "nope.mp4"),
    (["--video", "bikes.mp4", "--loss", "1.5"], "--loss: expected a probability"),
    (["--video", "bikes.mp4", "--loss", "0.1", "--model", "missing.pt"], "missing.pt"),
    (["--video", "bikes.mp4", "--loss", "0.1", "--schemes", "h265"], "h265"),
])
def test_bench_cli_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["grace", "bench", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not out.exists()


def test_bench_codes_in_flight_frames_against_sampled_losses_by_default():
    """The bench's default (--in-flight-samples 8) reaches the sender; with no loss heard it codes
    exactly as the full-arrival estimate does, under loss it codes other references (the committed
    model: the tiny one codes too little for the reference to change its symbols)."""
    from dataclasses import replace
    from pathlib import Path

    from netkit.apps.grace.bench import BenchConfig, _Runner
    from netkit.cli import build_parser

    model = Path(__file__).resolve().parents[1] / "models" / "grace" / "grace.pt"
    cfg = BenchConfig(video="carphone_pristine.mp4", losses=(0.0, 0.4), frames=12, model=str(model),
                      schemes=("grace",))
    args = build_parser().parse_args(["grace", "bench", "--video", "x", "--loss", "0", "--out", "o"])
    assert cfg.in_flight_samples == args.in_flight_samples == 8
    sampled, plain = _Runner(cfg), _Runner(replace(cfg, in_flight_samples=0))
    assert sampled.pair("grace")[0].in_flight_samples == 8 and plain.pair("grace")[0].in_flight_samples == 0
    a, b = sampled.run("grace", 0.0), plain.run("grace", 0.0)
    assert a.bytes_sent == b.bytes_sent and all(np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert sampled.run("grace", 0.4).bytes_sent != plain.run("grace", 0.4).bytes_sent

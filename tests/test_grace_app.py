"""The grace app on the experiment layer: sim runs, determinism, bad parameters, `grace bench --trace`,
and the same experiment and seed in the simulator and live agreeing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("constriction")

from netkit.cli import main  # noqa: E402
from netkit.errors import UserError  # noqa: E402
from netkit.experiment.spec import parse_experiment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "grace" / "grace.pt")
KEYS = ("ssim_db", "psnr_db", "undecodable_ratio", "stall_ms_per_min", "frame_delay_ms_p95", "kbps")


def _table(scheme: str = "grace", loss: float = 0.3, frames: int = 40, seed: int = 3, **app) -> dict:
    """A short small experiment: 40 frames of carphone at 64x48 over a 6 Mbit/s trace, 30 ms each way."""
    return {"name": "grace-test", "seed": seed, "duration_s": 10,
            "links": {"down": {"trace": str(ROOT / "traces" / "randomwalk-6mbps-seed1.trace"), "delay_ms": 30,
                               "loss": loss, "queue": "droptail:packets=100"},
                      "up": {"delay_ms": 30}},
            "apps": [{"module": "grace", "scheme": scheme, "video": "carphone_pristine.mp4", "frames": frames,
                      "width": 64, "height": 48, "model": MODEL, "kbps": 90.0, **app}]}


def _app_metrics(res) -> dict:
    return {k.split(".", 1)[1]: v for k, v in res.metrics.items() if k.startswith("grace.")}


def test_sim_run_streams_every_frame_deterministically_and_grace_survives_loss_fec_does_not():
    from netkit.experiment.runner import run

    a = run(parse_experiment(_table()))
    b = run(parse_experiment(_table()))
    m = _app_metrics(a)
    assert m == _app_metrics(b)                       # same experiment and seed: bit for bit
    assert set(KEYS) <= set(m)
    assert m["packets_sent"] == 400 and 0.55 * 400 < m["packets_received"] < 0.85 * 400   # 10 per frame, 30 % loss
    assert m["undecodable_ratio"] == 0 and m["stall_ms_per_min"] == 0
    assert m["frames_decoded"] == 40 and a.end_us < 10_000_000    # done at the last frame, before the cap
    assert 3 < m["ssim_db"] < 20 and m["frame_delay_ms_p95"] < 30 + 40 + 45
    fec = _app_metrics(run(parse_experiment(_table("h264_fec20"))))
    assert fec["packets_sent"] == 480                  # 10 data + 2 parity per frame
    assert fec["undecodable_ratio"] > 0.3              # 30 % loss breaks most frames and their chain
    other = _app_metrics(run(parse_experiment(_table(seed=4))))
    assert other["packets_received"] != m["packets_received"] or other["ssim_db"] != m["ssim_db"]


@pytest.mark.parametrize("app, key", [({"width": 60}, "apps.0.width"), ({"scheme": "h265"}, "apps.0.scheme"),
                                      ({"video": "nope.mp4"}, "apps.0.video"), ({"packets": 17}, "apps.0.packets"),
                                      ({"model": "missing.pt"}, "apps.0.model")])
def test_bad_parameters_name_the_key(app, key):
    with pytest.raises(UserError) as exc:
        parse_experiment(_table(**app))
    assert key in str(exc.value)


def test_netkit_run_example_file_and_bad_override(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(ROOT / "emulation" / "grace.toml"), "--out", str(out), "--set", "apps.0.frames=12",
               "--set", "apps.0.width=64", "--set", "apps.0.height=48"])
    assert rc == 0
    (row,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert row["status"] == "ok" and row["metrics"]["grace.frames_decoded"] == 12
    capsys.readouterr()
    assert main(["run", str(ROOT / "emulation" / "grace.toml"), "--out", str(tmp_path / "bad"),
                 "--set", "apps.0.height=50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apps.0.height" in err[0] and not (tmp_path / "bad").exists()


def test_bench_trace_runs_through_the_experiment_layer(tmp_path, capsys):
    out = tmp_path / "bench"
    trace = str(ROOT / "traces" / "randomwalk-6mbps-seed1.trace")
    rc = main(["grace", "bench", "--video", "carphone_pristine.mp4", "--frames", "16", "--loss", "0", "0.4",
               "--schemes", "h264_fec20", "--trace", trace, "--queue", "droptail:packets=50", "--delay", "20",
               "--out", str(out)])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["network"]["engine"] == "experiment layer (sim)"
    assert s["network"]["links"]["down"]["trace"] == trace
    zero, lossy = (r["schemes"] for r in s["by_loss"])
    assert set(zero["grace"]) == set(KEYS)
    assert zero["grace"]["undecodable_ratio"] == 0 and lossy["grace"]["undecodable_ratio"] < 0.1
    assert lossy["h264_fec20"]["undecodable_ratio"] > 0.3
    # the delay is the link's: 20 ms plus pacing, nowhere near the loss-only default of 50 ms
    assert zero["grace"]["frame_delay_ms_p95"] < 20 + 40 + 10


@pytest.mark.parametrize("argv, needle", [(["--trace", "no-such.trace"], "--trace no-such.trace"),
                                          (["--queue", "droptail:packets=5"], "--queue needs --trace"),
                                          (["--trace", "constant:5", "--queue", "fifo"], "--queue fifo")])
def test_bench_trace_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["grace", "bench", "--video", "bikes.mp4", "--loss", "0.1", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not out.exists()


@pytest.mark.emu
@pytest.mark.parametrize("scheme, loss, model", [("grace", 0.3, "bernoulli"), ("grace", 0.5, "ge"),
                                                 ("concealment", 0.3, "bernoulli")])
def test_same_experiment_and_seed_agree_in_sim_and_live(scheme, loss, model):
    """The live link loses the same packets as the simulator's (one seed derivation), so what is decoded agrees:
    undecodable ratio within 10 % of the simulator's (or 0.04 absolute), SSIM and PSNR within 10 %. Live frames
    also carry the codec's real compute time, so delays differ (not compared)."""
    from netkit.emu.testing import skip_reason

    why = skip_reason()
    if why:
        pytest.skip(why)
    from netkit.experiment.runner import run

    table = _table(scheme, loss, frames=50)
    table["links"]["down"]["loss_model"] = model
    sim = _app_metrics(run(parse_experiment(table)))
    live = _app_metrics(run(parse_experiment({**table, "mode": "emu"})))
    assert sim["undecodable_ratio"] > 0 or scheme == "grace" and model == "bernoulli"   # something to agree on
    assert live["packets_sent"] == sim["packets_sent"]
    assert live["packets_received"] == pytest.approx(sim["packets_received"], rel=0.05)
    assert abs(live["undecodable_ratio"] - sim["undecodable_ratio"]) <= max(0.1 * sim["undecodable_ratio"], 0.04)
    assert live["ssim_db"] == pytest.approx(sim["ssim_db"], rel=0.10)
    assert live["psnr_db"] == pytest.approx(sim["psnr_db"], rel=0.10)


def test_endpoints_pace_packets_and_resolve_frames_at_their_last_packet_or_the_clip_end():
    """Sender: frame f at start + f/fps, its 10 packets paced over one interval. Receiver (FIFO path): a frame
    missing a middle packet decodes when its last packet arrives; the clip's last frame, missing its last
    packet, decodes 2 intervals after its first packet, not at the long wait."""
    from netkit.apps.grace import data
    from netkit.apps.grace.app import VideoReceiverEndpoint, VideoSenderEndpoint, load_codec_model
    from netkit.apps.grace.session import GraceReceiver, GraceSender

    model = load_codec_model(MODEL)
    frames, _ = data.read_clip("carphone_pristine.mp4", 64, 48, max_frames=3)
    start = 1_000_000
    tx = VideoSenderEndpoint(GraceSender(model, 48, 64, 3, packets=10), frames, 25.0, start)
    rx = VideoReceiverEndpoint(GraceReceiver(model, 48, 64, wait_ms=200.0, last_packet_completes=True), start,
                               frames=3, last_wait_ms=80.0)
    assert tx.get_timer() == start and tx.datagrams_to_send(start - 1) == []
    sent = []
    now = start
    while (t := tx.get_timer()) is not None:
        now = t
        tx.handle_timer(now)
        sent += [(now, d.data) for d in tx.datagrams_to_send(now)]
    assert [t - start for t, _ in sent[:11]] == [i * 4000 for i in range(11)]   # 40 ms / 10 packets, then frame 1
    assert tx.finished and len(sent) == 30
    for i, (t, pkt) in enumerate(sent):
        if i in (13, 29):      # frame 1's packet 3, frame 2's last packet
            continue
        rx.receive_datagram(pkt, t + 30_000)
        while (timer := rx.get_timer()) is not None and timer <= t + 30_000:
            rx.handle_timer(timer)
    assert set(rx.decoded) == {0, 1}
    assert rx.decoded[1].time == (sent[19][0] + 30_000 - start) / 1000      # at its last packet
    assert rx.decoded[1].mask == 0x3FF & ~(1 << 3)
    timer = rx.get_timer()
    assert timer == sent[20][0] + 30_000 + 80_000                             # first packet + 80 ms
    rx.handle_timer(timer)
    assert rx.decoded[2].mask == 0x1FF and rx.next_frame == 3

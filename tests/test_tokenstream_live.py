"""Live runs over real UDP sockets (and kernel TCP) in namespaces behind the real-time link, against the simulator."""
import pytest

from netkit.net import LinkDirection
from netkit.apps.tokenstream.sources import synthetic

pytestmark = pytest.mark.emu

# 5 s of tokens: long enough that one scheduling hiccup of a busy machine moves the ratio by < 1 %
SCHED = synthetic(250, rate_tps=50, jitter_ms=6, seed=5)
PATH = LinkDirection("constant:12", loss=0.15, delay_ms=30)


@pytest.fixture(scope="module")
def live():
    from netkit.apps.tokenstream.live import emu_unavailable

    why = emu_unavailable()
    if why:
        pytest.skip(why)
    from netkit.apps.tokenstream.live import compare_live_sim

    return compare_live_sim


def _agree(live_ratio: float, sim_ratio: float, rel: float = 0.10, tiny: float = 0.02) -> bool:
    return abs(live_ratio - sim_ratio) <= max(rel * sim_ratio, tiny if sim_ratio < 0.2 else 0.0)


@pytest.mark.parametrize("scheme, kernel_tcp, path", [
    ("eloquent", True, PATH), ("duplicate", True, PATH), ("retransmit", False, PATH),
    ("eloquent", True, LinkDirection("constant:12", loss=0.15, loss_model="ge", delay_ms=30)),
], ids=["eloquent", "duplicate", "retransmit-netkit-stream", "eloquent-ge"])
def test_sim_and_live_agree_on_stall_ratio(live, scheme, kernel_tcp, path):
    (row,) = live([scheme], SCHED, path, seed=1, kernel_tcp=kernel_tcp)
    assert row["live"]["rendered"] == len(SCHED)
    assert _agree(row["live"]["stall_ratio"], row["sim"]["stall_ratio"]), row
    assert row["live"]["bytes_overhead"] == pytest.approx(row["sim"]["bytes_overhead"], rel=0.05)


def test_retransmit_over_kernel_tcp_renders_every_token_once_in_order(live):
    from netkit.apps.tokenstream.live import live_stream

    m = live_stream("retransmit", SCHED, PATH, seed=1, kernel_tcp=True)
    assert [i for i, _ in m["events"]] == list(range(len(SCHED)))
    assert m["text"] == b"".join(SCHED.tokens)
    assert m["transport"] == "kernel TCP"
    # the kernel's TCP is not netkit's stream (RACK, TLP, delayed ACKs differ): same ballpark, not 10 %
    assert 0.1 < m["stall_ratio"] < 0.8


def test_live_cli_writes_results(live, tmp_path, capsys):
    import json

    from netkit.cli import main

    out = tmp_path / "live"
    assert main(["tokenstream", "live", "--scheme", "eloquent", "--tokens", "60", "--rate", "40", "--loss", "0.1",
                 "--delay", "20", "--out", str(out)]) == 0
    assert "eloquent" in capsys.readouterr().out
    (row,) = json.loads((out / "results.json").read_text())["runs"]
    assert row["live"]["rendered"] == 60 and row["sim"]["rendered"] == 60
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["params"]["mode"] for r in runs) == ["emu", "sim"]
    assert all(r["metrics"]["tokenstream.rendered"] == 60 for r in runs)
    assert {"config.json", "summary.json"} <= {p.name for p in out.iterdir()}

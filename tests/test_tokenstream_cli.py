"""`netkit tokenstream bench`: the table, the plot and results.json; clear errors for bad options."""
import json

from netkit.cli import main


def test_bench_writes_results_plot_and_table(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(["tokenstream", "bench", "--loss", "0", "0.1", "--seeds", "2", "--tokens", "80",
               "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Eloquent stall ratio vs retransmit" in printed and "vs duplicate" in printed
    res = json.loads((out / "results.json").read_text())
    for scheme in ("eloquent", "retransmit", "duplicate", "udp"):
        for key in ("stall_ratio", "ttft_ms", "token_delay_ms_p95", "bytes_overhead"):
            assert isinstance(res[scheme][key], float)
        assert res[scheme]["runs"] == 2 * 2 * 2  # loss models x losses x seeds
    assert set(res["reductions"]) == {"retransmit", "duplicate"}
    assert res["reductions"]["retransmit"] > 0
    assert (out / "stall_vs_loss.png").stat().st_size > 10_000
    assert res["command"].startswith("netkit ")


def test_bench_bad_options_exit_2_with_a_clear_message(tmp_path, capsys):
    assert main(["tokenstream", "bench", "--loss", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "--loss: expected a probability" in capsys.readouterr().err
    assert main(["tokenstream", "bench", "--trace", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "no such trace file" in capsys.readouterr().err
    assert main(["tokenstream", "bench", "--seeds", "0", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()

"""Mininet with netkit's TraceLink: the dumbbell example's flows share the trace-driven bottleneck."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netkit.emu.testing import skip_reason
from netkit.trace import synth, write_mahimahi

REASON = skip_reason("iperf3", "brctl", mininet=True)
pytestmark = [pytest.mark.emu, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
EXAMPLES = Path(__file__).resolve().parents[1] / "emulation"


@pytest.mark.timeout(120)
def test_dumbbell_flows_share_the_bottleneck(tmp_path):
    trace = tmp_path / "const12.trace"
    write_mahimahi(synth.constant(12, 10), trace)
    res = subprocess.run([sys.executable, str(EXAMPLES / "lte_dumbbell.py"), "--flows", "2", "--trace", str(trace),
                          "--delay", "10", "--queue", "droptail:packets=100", "--duration", "10", "--json"],
                         capture_output=True, text=True, timeout=100)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    flows = out["flows"]
    print(f"dumbbell over 12 Mbit/s: flows {[round(f, 2) for f in flows]} Mbit/s (sum {out['sum_mbps']:.2f}), "
          f"Jain {out['jain']:.3f}, bottleneck delivered {out['delivered_mbps']:.2f} of "
          f"{out['capacity_mbps']:.2f} Mbit/s")
    assert len(flows) == 2
    assert min(flows) > 0.3 * sum(flows)  # both flows get a real share
    assert out["jain"] > 0.9
    assert out["delivered_mbps"] > 0.95 * out["capacity_mbps"]  # together they fill it
    assert sum(flows) < out["capacity_mbps"]

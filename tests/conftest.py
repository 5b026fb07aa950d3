"""Fixtures shared by several test files."""
from __future__ import annotations

import pytest

from netkit.trace import synth, write_mahimahi


@pytest.fixture(scope="session")
def trace(tmp_path_factory) -> str:
    """A 10 s constant 12 Mbit/s Mahimahi trace file (live-emulation tests that need a small real file)."""
    path = tmp_path_factory.mktemp("traces") / "const12.trace"
    write_mahimahi(synth.constant(12, 10), path)
    return str(path)

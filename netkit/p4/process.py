"""Running an external switch (simple_switch_grpc, the Tofino SDE's switchd): start, wait for P4Runtime, stop."""
from __future__ import annotations

import subprocess
from pathlib import Path

import grpc

from netkit.emu.daemon import Daemon


def run_tool(args: list[str], what: str, log: Path | None = None, timeout_s: float = 600) -> None:
    """Run a compiler; OSError with its last output lines when it fails."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise OSError(f"{what} failed (exit {proc.returncode}): {tail}")


class SwitchProcess:
    """A switch daemon in a namespace, stopped on stop(), on exceptions and on signals (netkit's registry)."""

    def __init__(self, args: list[str], netns_name: str | None, log: Path, env: dict | None = None):
        self.log = log
        self.daemon = Daemon(args, netns_name, log, "switch", env=env)

    @property
    def proc(self) -> subprocess.Popen:
        """The switch's process."""
        return self.daemon.proc

    def wait_ready(self, address: str, timeout_s: float = 30.0) -> None:
        """Wait until P4Runtime answers at `address`; OSError with the log's tail if the switch dies first."""
        self.daemon.wait_ready(lambda: _serves_grpc(address), timeout_s, f"serve P4Runtime at {address}")

    def stop(self) -> None:
        """Stop the switch."""
        self.daemon.stop()


def _serves_grpc(address: str) -> bool:
    """Whether a gRPC server answers at `address` within half a second."""
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=0.5)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()

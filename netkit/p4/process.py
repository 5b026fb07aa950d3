"""Running an external switch (simple_switch_grpc, the Tofino SDE's switchd): start, wait for P4Runtime, stop."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc

from netkit.emu import netns
from netkit.emu.resources import registry


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
        self._logf = open(log, "wb")
        with netns.enter(netns_name):
            self.proc = subprocess.Popen(args, stdout=self._logf, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self._token = registry().add(f"switch process {args[0]} (pid {self.proc.pid})", self._kill)

    def wait_ready(self, address: str, timeout_s: float = 30.0) -> None:
        """Wait until P4Runtime answers at `address`; OSError with the log's tail if the switch dies first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OSError(f"switch exited with {self.proc.returncode}: {self._tail()}")
            channel = grpc.insecure_channel(address)
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                return
            except grpc.FutureTimeoutError:
                pass
            finally:
                channel.close()
        raise OSError(f"switch did not serve P4Runtime at {address} within {timeout_s:.0f} s: {self._tail()}")

    def _tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-3:])
        except OSError:
            return "(no log)"

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()

    def stop(self) -> None:
        """Stop the switch."""
        registry().release(self._token)

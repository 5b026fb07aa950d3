"""The `bmv2` target: p4c (bmv2 backend, v1model) and simple_switch_grpc with ports on veth/TAP interfaces."""
from __future__ import annotations

import tempfile
from pathlib import Path

from netkit.p4.process import SwitchProcess, run_tool
from netkit.p4.target import Availability, Compiled, PortSpec, Target, program_name, program_source, which

CPU_PORT = 255
INSTALL_HINT = ("install p4lang's p4c and behavioral-model built with PI (simple_switch_grpc): "
                "packages from the p4lang OBS repository or a build from github.com/p4lang/p4c and "
                "github.com/p4lang/behavioral-model (./configure --with-pi)")


class Bmv2Target(Target):
    """p4c --target bmv2 --arch v1model, and simple_switch_grpc serving P4Runtime with a CPU port."""

    name = "bmv2"
    arch = "v1model"

    def __init__(self) -> None:
        super().__init__()
        self.process: SwitchProcess | None = None
        self.workdir: tempfile.TemporaryDirectory | None = None

    def missing(self) -> list[str]:
        """Tools this target needs that are not on PATH."""
        return [t for t in ("p4c", "simple_switch_grpc") if which(t) is None]

    def available(self) -> Availability:
        missing = self.missing()
        if missing:
            return Availability(False, f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")
        return Availability(True, f"p4c at {which('p4c')}, simple_switch_grpc at {which('simple_switch_grpc')}")

    def compile(self, program: str, out_dir: str | Path) -> Compiled:
        if which("p4c") is None:
            raise OSError(f"target bmv2: p4c not found on PATH; {INSTALL_HINT}")
        src = program_source(program, self.arch)
        name = program_name(program)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        p4info = out / f"{name}.p4info.txtpb"
        run_tool(["p4c", "--target", "bmv2", "--arch", "v1model", "--std", "p4-16",
                  "--p4runtime-files", str(p4info), "-o", str(out), str(src)],
                 f"p4c on {src}", log=out / "p4c.log")
        config = out / f"{src.stem}.json"
        if not config.is_file():
            raise OSError(f"p4c did not write {config}")
        return Compiled(name, p4info, config)

    def start(self, grpc_addr: str, ports: list[PortSpec], device_id: int = 1) -> None:
        """simple_switch_grpc in the ports' namespace (all ports must share one), no program until set_pipeline."""
        if which("simple_switch_grpc") is None:
            raise OSError(f"target bmv2: simple_switch_grpc not found on PATH; {INSTALL_HINT}")
        spaces = {p.netns for p in ports}
        if len(spaces) > 1:
            raise ValueError("target bmv2: all --port interfaces must be in one namespace "
                             f"(got {', '.join(str(s) for s in spaces)}); simple_switch_grpc runs inside it")
        ns = spaces.pop() if spaces else None
        if ns is not None and not grpc_addr.startswith("unix:"):
            raise ValueError(f"target bmv2: ports are in namespace {ns}, so simple_switch_grpc runs there; "
                             "give --grpc unix:PATH so controllers outside the namespace can reach it")
        self.workdir = tempfile.TemporaryDirectory(prefix="netkit-bmv2-")
        args = ["simple_switch_grpc", "--device-id", str(device_id), "--no-p4", "--log-level", "warn"]
        for p in ports:
            args += ["-i", f"{p.number}@{p.iface}"]
        args += ["--", "--grpc-server-addr", grpc_addr, "--cpu-port", str(CPU_PORT)]
        self.process = SwitchProcess(args, ns, Path(self.workdir.name) / "simple_switch.log")
        self.device_id = device_id
        try:
            self.process.wait_ready(grpc_addr)
        except OSError:
            self.stop()
            raise
        self.address = grpc_addr

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None
        self.address = None

"""The `tofino` target: bf-p4c (TNA) and the Tofino SDE's switch daemon (hardware or the Tofino model), via $SDE."""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

from netkit.p4.process import SwitchProcess, run_tool
from netkit.p4.target import Availability, Compiled, PortSpec, Target, program_name, program_source

INSTALL_HINT = ("install Intel's Tofino SDE (bf-sde, licensed from Intel; not in any package registry), "
                "build it with P4Runtime support and export SDE=/path/to/bf-sde SDE_INSTALL=$SDE/install")


def sde_paths() -> tuple[Path | None, Path | None]:
    """($SDE, $SDE_INSTALL or $SDE/install), None where unset."""
    sde = os.environ.get("SDE")
    if not sde:
        return None, None
    install = os.environ.get("SDE_INSTALL") or os.path.join(sde, "install")
    return Path(sde), Path(install)


def pack_device_config(name: str, tofino_bin: bytes, context_json: bytes) -> bytes:
    """The p4_device_config the SDE's P4Runtime server loads: length-prefixed name, binary and context (LE)."""
    out = b""
    for part in (name.encode(), tofino_bin, context_json):
        out += struct.pack("<I", len(part)) + part
    return out


class TofinoTarget(Target):
    """bf-p4c --arch tna and $SDE/run_switchd.sh (with $SDE/run_tofino_model.sh when no ASIC is present)."""

    name = "tofino"
    arch = "tna"

    def __init__(self) -> None:
        super().__init__()
        self.process: SwitchProcess | None = None
        self.model: SwitchProcess | None = None
        self.workdir: tempfile.TemporaryDirectory | None = None

    def available(self) -> Availability:
        sde, install = sde_paths()
        if sde is None:
            return Availability(False, f"$SDE is not set; {INSTALL_HINT}")
        missing = [str(p) for p in (install / "bin" / "bf-p4c", sde / "run_switchd.sh") if not p.exists()]
        if missing:
            return Availability(False, f"{' and '.join(missing)} not found under $SDE={sde}; {INSTALL_HINT}")
        return Availability(True, f"SDE at {sde}")

    def compile(self, program: str, out_dir: str | Path) -> Compiled:
        self.require()
        _, install = sde_paths()
        src = program_source(program, self.arch)
        name = program_name(program)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        p4info = out / f"{name}_tna.p4info.txtpb"
        run_tool([str(install / "bin" / "bf-p4c"), "--target", "tofino", "--arch", "tna",
                  "--p4runtime-files", str(p4info), "-o", str(out / name), str(src)],
                 f"bf-p4c on {src}", log=out / "bf-p4c.log")
        pipe = out / name / "pipe"
        config = out / f"{name}.tofino.bin"
        config.write_bytes(pack_device_config(name, (pipe / "tofino.bin").read_bytes(),
                                              (pipe / "context.json").read_bytes()))
        return Compiled(name, p4info, config)

    def start(self, grpc_addr: str, ports: list[PortSpec], device_id: int = 1, program: str = "sfu",
              model: bool | None = None) -> None:
        """The SDE's switchd serving P4Runtime; with no ASIC (or model=True) the Tofino model with veth ports."""
        self.require()
        sde, install = sde_paths()
        env = dict(os.environ, SDE=str(sde), SDE_INSTALL=str(install))
        self.workdir = tempfile.TemporaryDirectory(prefix="netkit-tofino-")
        work = Path(self.workdir.name)
        use_model = model if model is not None else not Path("/dev/bf0").exists()
        if use_model:
            port_map = work / "ports.json"
            port_map.write_text('{"PortToIf": [' + ", ".join(
                f'{{"device_port": {p.number}, "if": "{p.iface}"}}' for p in ports) + "]}")
            self.model = SwitchProcess([str(sde / "run_tofino_model.sh"), "-p", program, "-f", str(port_map)],
                                       None, work / "tofino_model.log", env)
        self.process = SwitchProcess([str(sde / "run_switchd.sh"), "-p", program, "--",
                                      f"--p4rt-server={grpc_addr.replace('unix:', '')}"],
                                     None, work / "switchd.log", env)
        self.device_id = device_id
        try:
            self.process.wait_ready(grpc_addr, timeout_s=120)
        except OSError:
            self.stop()
            raise
        self.address = grpc_addr

    def stop(self) -> None:
        for proc in (self.process, self.model):
            if proc is not None:
                proc.stop()
        self.process = self.model = None
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None
        self.address = None

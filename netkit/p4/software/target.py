"""The `software` target: the SFU pipeline in Python behind the P4Runtime service, runs everywhere."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from netkit.p4.target import Availability, Compiled, PortSpec, REPO_P4, Target, program_name


def committed_p4info(program: str) -> Path:
    """The committed P4Info of `program` (p4/NAME/build/NAME.p4info.txtpb)."""
    path = REPO_P4 / program / "build" / f"{program}.p4info.txtpb"
    if not path.is_file():
        raise ValueError(f"program {program}: no committed P4Info at {path}")
    return path


class SoftwareTarget(Target):
    """A SoftwareSwitch served over P4Runtime in this process, its ports on AF_PACKET sockets."""

    name = "software"
    arch = "v1model"

    def __init__(self, program: str = "sfu", realtime: bool = True) -> None:
        super().__init__()
        self.program = program
        self.realtime = realtime
        self.switch = None
        self.server = None
        self.ports = None

    def available(self) -> Availability:
        try:
            import grpc  # noqa: F401
            from p4.v1 import p4runtime_pb2  # noqa: F401
        except ImportError as exc:
            return Availability(False, f"Python package {exc.name} is missing (pip install 'netkit[p4]')")
        return Availability(True, "built in (Python pipeline of p4/sfu with its committed P4Info); "
                                  "live ports need root")

    def compile(self, program: str, out_dir: str | Path) -> Compiled:
        """No compiler: the committed P4Info plus a device config naming the program the switch runs."""
        name = program_name(program)
        from netkit.p4.software.device import PROGRAMS
        if name not in PROGRAMS:
            raise ValueError(f"target software implements only {', '.join(PROGRAMS)}, not {program!r}")
        src = committed_p4info(name)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        p4info = out / f"{name}.p4info.txtpb"
        config = out / f"{name}.software.json"
        shutil.copyfile(src, p4info)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        config.write_text(json.dumps({"program": name, "target": "software", "p4info_sha256": digest}) + "\n")
        return Compiled(name, p4info, config)

    def start(self, grpc_addr: str, ports: list[PortSpec], device_id: int = 1) -> None:
        from netkit.p4.software.device import SoftwareSwitch
        from netkit.p4.software.server import serve

        self.switch = SoftwareSwitch(self.program, device_id)
        self.device_id = device_id
        if ports:
            from netkit.p4.software.ports import PortIO
            self.ports = PortIO(self.switch, ports, realtime=self.realtime)
        from netkit.emu.driver import realtime_thread

        try:
            # the gRPC threads (packet-ins, writes) inherit SCHED_FIFO: on a busy machine a packet-in otherwise
            # waits behind every other process for the CPU (measured: 0.4-0.9 s at load 5, benchmarks/sfu_live.py)
            with realtime_thread(self.realtime):
                self.server, bound = serve(self.switch, grpc_addr)
        except Exception:
            if self.ports:
                self.ports.close()
            raise
        host = grpc_addr.rsplit(":", 1)[0] if not grpc_addr.startswith("unix:") else grpc_addr
        self.address = grpc_addr if grpc_addr.startswith("unix:") else f"{host}:{bound}"
        if self.ports:
            self.ports.start()

    def stop(self) -> None:
        if self.ports is not None:
            self.ports.close()
            self.ports = None
        if self.server is not None:
            self.server.stop(grace=0.5).wait()
            self.server = None
        self.address = None

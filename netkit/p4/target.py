"""One interface for every P4 target: compile, start, set pipeline, connect, stop.

    target = get_target("software")          # or "bmv2", "tofino"
    compiled = target.compile("sfu", out_dir)
    target.start("127.0.0.1:9559", ports=[PortSpec(1, "veth1", "nk-ns")])
    target.set_pipeline(compiled)
    client = target.connect()                # a P4RuntimeClient
    ...
    target.stop()
"""
from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from netkit.p4.client import P4RuntimeClient

REPO_P4 = Path(__file__).resolve().parents[2] / "p4"


@dataclass(frozen=True)
class PortSpec:
    """A switch port: number N on interface IFACE, optionally inside network namespace NETNS."""

    number: int
    iface: str
    netns: str | None = None

    @classmethod
    def parse(cls, text: str) -> "PortSpec":
        """`N@IFACE` or `N@NETNS:IFACE`; ValueError naming the option otherwise."""
        num, sep, where = text.partition("@")
        if not sep or not num.isdigit() or not where:
            raise ValueError(f"--port {text!r}: expected N@IFACE or N@NETNS:IFACE (e.g. 1@veth0)")
        netns, _, iface = where.rpartition(":")
        number = int(num)
        if not 0 <= number < 511 or number == 255:
            raise ValueError(f"--port {text!r}: port number must be 0..510 and not the CPU port 255")
        return cls(number, iface, netns or None)

    def __str__(self) -> str:
        return f"{self.number}@{self.netns + ':' if self.netns else ''}{self.iface}"


@dataclass(frozen=True)
class Availability:
    """Whether a target can run here, and if not, what is missing and how to install it."""

    usable: bool
    reason: str


@dataclass(frozen=True)
class Compiled:
    """A compiled program: its P4Info (text format) and the device config the target loads."""

    program: str
    p4info: Path
    device_config: Path


def program_source(program: str, arch: str) -> Path:
    """The P4 source of `program`: a name under p4/ (sfu) or a path to a .p4 file."""
    path = Path(program)
    if path.suffix == ".p4":
        if not path.is_file():
            raise ValueError(f"P4 program {program}: no such file")
        return path
    src = REPO_P4 / program / f"{program}_{arch}.p4"
    if not src.is_file():
        known = sorted(p.name for p in REPO_P4.iterdir() if p.is_dir()) if REPO_P4.is_dir() else []
        raise ValueError(f"P4 program {program!r}: no {src} (known programs: {', '.join(known) or 'none'})")
    return src


def program_name(program: str) -> str:
    """The short name of a program given by name or path (sfu_v1model.p4 -> sfu)."""
    stem = Path(program).stem
    for arch in ("_v1model", "_tna"):
        if stem.endswith(arch):
            return stem[: -len(arch)]
    return stem


def which(tool: str) -> str | None:
    """Path of `tool` on PATH, or None."""
    return shutil.which(tool)


class Target(ABC):
    """A P4 target: something that compiles a program and runs a switch that speaks P4Runtime."""

    name: str = ""
    arch: str = ""

    def __init__(self) -> None:
        self.address: str | None = None
        self.device_id = 1

    @abstractmethod
    def available(self) -> Availability:
        """Whether this target's tools are here (one line saying what is missing and how to install it)."""

    def require(self) -> None:
        """OSError with the availability reason when the target cannot run here."""
        a = self.available()
        if not a.usable:
            raise OSError(f"target {self.name}: {a.reason}")

    @abstractmethod
    def compile(self, program: str, out_dir: str | Path) -> Compiled:
        """Compile `program` (name under p4/ or .p4 path) into `out_dir`."""

    @abstractmethod
    def start(self, grpc_addr: str, ports: list[PortSpec], device_id: int = 1) -> None:
        """Start the switch with these ports, serving P4Runtime on `grpc_addr` (HOST:PORT or unix:PATH)."""

    def connect(self, election_id: tuple[int, int] = (0, 1)) -> P4RuntimeClient:
        """A controller session to the running switch."""
        if self.address is None:
            raise RuntimeError(f"target {self.name} is not started")
        return P4RuntimeClient(self.address, device_id=self.device_id, election_id=election_id)

    def set_pipeline(self, compiled: Compiled, election_id: tuple[int, int] = (0, 1)) -> None:
        """Load a compiled program (SetForwardingPipelineConfig) as the primary controller."""
        with self.connect(election_id) as client:
            client.set_pipeline(compiled.p4info, compiled.device_config)

    @abstractmethod
    def stop(self) -> None:
        """Stop the switch and release what start() took (processes, sockets)."""

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def get_target(name: str) -> Target:
    """The target called `name`: software (default), bmv2 or tofino."""
    if name == "software":
        from netkit.p4.software.target import SoftwareTarget
        return SoftwareTarget()
    if name == "bmv2":
        from netkit.p4.bmv2 import Bmv2Target
        return Bmv2Target()
    if name == "tofino":
        from netkit.p4.tofino import TofinoTarget
        return TofinoTarget()
    raise ValueError(f"unknown P4 target {name!r} (known: {', '.join(TARGETS)})")


TARGETS = ("software", "bmv2", "tofino")

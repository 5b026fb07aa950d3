"""The software switch: one P4 program's pipeline over switch state, with the ports it forwards between.

`SoftwareSwitch.process(port, data)` is sans-I/O (used by the simulator and by tests);
`SoftwareSwitch.receive(port, data)` also delivers the results: to attached port senders, and
packets for the CPU port to the packet-in sink (the P4Runtime server's primary controller).
"""
from __future__ import annotations

import json
import threading
from typing import Callable

from p4.config.v1 import p4info_pb2

from netkit.p4.software import sfu
from netkit.p4.software.state import SwitchState

PROGRAMS = {"sfu": sfu}


class SoftwareSwitch:
    """A device running one program: pipeline config, state, ports and a lock shared by all callers."""

    def __init__(self, program: str = "sfu", device_id: int = 1):
        if program not in PROGRAMS:
            raise ValueError(f"software target: unknown program {program!r} (known: {', '.join(PROGRAMS)})")
        self.program = program
        self.module = PROGRAMS[program]
        self.device_id = device_id
        self.lock = threading.RLock()
        self.p4info: p4info_pb2.P4Info | None = None
        self.device_config = b""
        self.cookie = 0
        self.state: SwitchState | None = None
        self.pipeline = None
        self.ports: dict[int, Callable[[bytes], None]] = {}
        self.packet_in: Callable[[bytes], None] | None = None
        self.unattached: list[tuple[int, bytes]] = []   # packets for ports nobody attached (kept for tests)
        self.keep_unattached = False
        self.cpu_port: int = self.module.CPU_PORT   # the port packets to and from the controller use

    def check_config(self, info: p4info_pb2.P4Info, device_config: bytes) -> None:
        """ValueError unless this P4Info (and device config, if any) describes the program this switch runs."""
        problems = self.module.p4info_differences(info)
        if problems:
            raise ValueError(f"P4Info is not that of program {self.program}: " + "; ".join(problems[:5]))
        if device_config:
            try:
                cfg = json.loads(device_config)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ValueError("p4_device_config is neither empty nor the software target's JSON "
                                 "(netkit p4 compile --target software)") from None
            if not isinstance(cfg, dict) or cfg.get("program") != self.program:
                raise ValueError(f"p4_device_config is for program {cfg.get('program') if isinstance(cfg, dict) else cfg!r}, "
                                 f"this switch runs {self.program}")

    def set_pipeline(self, info: p4info_pb2.P4Info, device_config: bytes = b"", cookie: int = 0) -> None:
        """Install a pipeline: fresh state (all tables empty, registers and counters zero)."""
        self.check_config(info, device_config)
        with self.lock:
            self.p4info = info
            self.device_config = device_config
            self.cookie = cookie
            self.state = SwitchState(info)
            self.pipeline = self.module.SfuPipeline(self.state)

    def process(self, port: int, data: bytes) -> list[tuple[int, bytes]]:
        """Run one packet through the pipeline; [] when no pipeline is set (a switch without a program drops)."""
        with self.lock:
            if self.pipeline is None:
                return []
            return self.pipeline.process(port, data)

    def receive(self, port: int, data: bytes) -> int:
        """Process a packet and deliver what comes out; return the number of packets sent."""
        out = self.process(port, data)
        cpu, ports = self.cpu_port, self.ports
        for eport, pkt in out:
            if eport == cpu:
                if self.packet_in is not None:
                    self.packet_in(pkt)
            else:
                send = ports.get(eport)
                if send is not None:
                    send(pkt)
                elif self.keep_unattached:
                    self.unattached.append((eport, pkt))
        return len(out)

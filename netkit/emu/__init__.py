"""Live emulation: real-time trace-driven links between network namespaces, Mininet links, asyncio drivers.

- `TunLink` / `netkit shell`: two TUN devices and a link process running the same
  `netkit.link` element chains as the simulator, in real time.
- `netkit.emu.mininet.TraceLink`: the same link as a Mininet link class (imports Mininet).
- `UdpEndpointDriver`, `open_tcp_connection`, `start_tcp_server`: sans-I/O endpoints and
  kernel TCP inside namespaces.
- `LiveNetwork`, `run_flows`: the one live harness: a `netkit.net.Topology` as namespaces and links,
  flows of sans-I/O endpoints over UDP on the precise driver.
- `clean`: remove what killed runs left.

Names are imported lazily, so `import netkit.emu` stays cheap and needs neither root nor Mininet.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Clock": "netkit.emu.clock",
    "TunLink": "netkit.emu.tunlink",
    "LinkProcess": "netkit.emu.process",
    "UdpEndpointDriver": "netkit.emu.driver",
    "udp_socket": "netkit.emu.driver",
    "open_tcp_connection": "netkit.emu.driver",
    "start_tcp_server": "netkit.emu.driver",
    "precise_loop": "netkit.emu.driver",
    "LiveNetwork": "netkit.emu.harness",
    "LiveFlow": "netkit.emu.harness",
    "run_flows": "netkit.emu.harness",
    "run_shell": "netkit.emu.shell",
    "clean": "netkit.emu.clean",
    "EmuError": "netkit.emu.errors",
    "NotRootError": "netkit.emu.errors",
    "ToolMissing": "netkit.emu.errors",
    "NameTaken": "netkit.emu.errors",
    "summarize_log": "netkit.emu.logstats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'netkit.emu' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

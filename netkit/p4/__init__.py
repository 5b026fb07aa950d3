"""netkit.p4: P4 targets behind one interface (software, bmv2, tofino) and a P4Runtime client.

Importing this package is light (the CLI imports it for `netkit --help`); gRPC and the P4Runtime
protobufs load with netkit.p4.target, netkit.p4.client and the targets.
"""
from __future__ import annotations

__all__ = ["TARGETS", "Availability", "Compiled", "PortSpec", "Target", "get_target"]


def __getattr__(name: str):
    if name in __all__:
        from netkit.p4 import target
        return getattr(target, name)
    raise AttributeError(name)

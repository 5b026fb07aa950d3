"""The four token-streaming schemes by name, as (sender, receiver) endpoint pairs."""
from __future__ import annotations

from typing import Any

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.reliable import StreamTokenReceiver, StreamTokenSender
from netkit.apps.tokenstream.udp import UdpReceiver, UdpSender

SCHEMES = ("eloquent", "retransmit", "duplicate", "udp")
BASELINES = ("retransmit", "duplicate")


def make_endpoints(scheme: str, copies: int = 2) -> tuple[Any, Any]:
    """A fresh sender and receiver for `scheme`; `copies` is duplicate's k."""
    if scheme == "eloquent":
        return EloquentSender(), EloquentReceiver()
    if scheme == "retransmit":
        return StreamTokenSender(), StreamTokenReceiver()
    if scheme == "duplicate":
        if copies < 2:
            raise ValueError(f"duplicate needs k >= 2 copies, got {copies}")
        return StreamTokenSender(copies=copies), StreamTokenReceiver()
    if scheme == "udp":
        return UdpSender(), UdpReceiver()
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")

"""The four token-streaming schemes by name, as (sender, receiver) endpoint pairs."""
from __future__ import annotations

from typing import Any

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.reliable import StreamTokenReceiver, StreamTokenSender
from netkit.apps.tokenstream.udp import UdpReceiver, UdpSender

SCHEMES = ("eloquent", "retransmit", "duplicate", "udp")
BASELINES = ("retransmit", "duplicate")
#: After the answer's last token, Eloquent re-sends its unacknowledged tokens this many smoothed token
#: gaps later (and again at that interval until acknowledged) instead of waiting a probe timeout (about
#: 3 RTTs at first, doubling): measured in benchmarks/tokenstream_eloquent_gap.py, see docs/tokenstream.md.
ELOQUENT_REPAIR_GAPS = 2.0


def make_endpoints(scheme: str, copies: int = 2) -> tuple[Any, Any]:
    """A fresh sender and receiver for `scheme`; `copies` is duplicate's k."""
    if scheme == "eloquent":
        return EloquentSender(tail_repair_gaps=ELOQUENT_REPAIR_GAPS), EloquentReceiver()
    if scheme == "retransmit":
        return StreamTokenSender(), StreamTokenReceiver()
    if scheme == "duplicate":
        if copies < 2:
            raise ValueError(f"duplicate needs k >= 2 copies, got {copies}")
        return StreamTokenSender(copies=copies), StreamTokenReceiver()
    if scheme == "udp":
        return UdpSender(), UdpReceiver()
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")

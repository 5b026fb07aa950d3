"""The four token-streaming schemes by name, as (sender, receiver) endpoint pairs."""
from __future__ import annotations

from typing import Any

from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.reliable import StreamTokenReceiver, StreamTokenSender
from netkit.apps.tokenstream.udp import UdpReceiver, UdpSender

SCHEMES = ("eloquent", "retransmit", "duplicate", "udp")
BASELINES = ("retransmit", "duplicate")
#: Eloquent re-sends its unacknowledged tokens once the next token is this many smoothed token gaps
#: overdue (pauses, the end of the answer) instead of waiting a probe timeout (about 3 RTTs at first):
#: measured in benchmarks/tokenstream_eloquent_gap.py, see docs/tokenstream.md.
ELOQUENT_REPAIR_GAPS = 1.5


def make_endpoints(scheme: str, copies: int = 2) -> tuple[Any, Any]:
    """A fresh sender and receiver for `scheme`; `copies` is duplicate's k."""
    if scheme == "eloquent":
        return EloquentSender(repair_gaps=ELOQUENT_REPAIR_GAPS), EloquentReceiver()
    if scheme == "retransmit":
        return StreamTokenSender(), StreamTokenReceiver()
    if scheme == "duplicate":
        if copies < 2:
            raise ValueError(f"duplicate needs k >= 2 copies, got {copies}")
        return StreamTokenSender(copies=copies), StreamTokenReceiver()
    if scheme == "udp":
        return UdpSender(), UdpReceiver()
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")

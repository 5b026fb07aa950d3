"""Workloads selectable by name (`--app`): bulk transfers with a congestion controller, and CBR."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from netkit.transport.base import Endpoint
from netkit.transport.datagram import CbrReceiver, CbrSender
from netkit.transport.stream import StreamReceiver, StreamSender

BULK_CONTROLLERS = ("cubic", "reno", "prague")


class AppSpecError(ValueError):
    """An `--app` value that names no workload; the message lists the valid forms."""


@dataclass(frozen=True)
class AppSpec:
    """A parsed workload: its label and factories for the sending and receiving endpoints."""

    label: str
    make_sender: Callable[[], Endpoint]
    make_receiver: Callable[[], Endpoint]


def parse_app(spec: str, ecn: bool | None = None) -> AppSpec:
    """`bulk` (Cubic), `cubic`, `reno`, `prague`, `bulk:CC`, or `cbr:MBPS`."""
    name, _, arg = spec.strip().lower().partition(":")
    if name == "bulk":
        cc = arg or "cubic"
        if cc not in BULK_CONTROLLERS:
            raise AppSpecError(f"--app {spec!r}: unknown congestion control {cc!r}; expected {', '.join(BULK_CONTROLLERS)}")
        name = cc
    if name in BULK_CONTROLLERS:
        use_ecn = (name == "prague") if ecn is None else ecn
        pacing = name == "prague"
        return AppSpec(name, lambda: StreamSender(name, pacing=pacing, ecn=use_ecn, bulk=True), StreamReceiver)
    if name == "cbr":
        try:
            mbps = float(arg)
        except ValueError:
            raise AppSpecError(f"--app {spec!r}: expected cbr:MBPS with a number, e.g. cbr:6") from None
        if not mbps > 0:
            raise AppSpecError(f"--app {spec!r}: CBR rate must be > 0 Mbit/s")
        return AppSpec(f"cbr:{mbps:g}", lambda: CbrSender(mbps), CbrReceiver)
    raise AppSpecError(
        f"--app {spec!r}: unknown workload; expected bulk, cubic, reno, prague, bulk:CC or cbr:MBPS"
    )

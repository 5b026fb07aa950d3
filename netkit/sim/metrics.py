"""Per-flow measurement: what was sent, what arrived when, and the summary metrics (Pantheon's definitions).

Throughput is delivered IP bytes over time. One-way delay is each delivered
packet's arrival time minus its send time. Loss rate is the share of sent data
packets the network dropped (packets still queued at the end are not lost). Utilisation is delivered bytes, counted as mm-link
counts them (IP + 4), over the bytes the trace's opportunities offered in the
same window.
"""
from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from netkit.link.packet import TUN_HEADER_BYTES, Packet

if TYPE_CHECKING:  # numpy is imported by the functions that summarise: a run itself needs none
    import numpy as np

# one delivered packet: arrival time (µs), one-way delay (µs), IP size; native byte order, 20 bytes
_ARRIVAL: Final = struct.Struct("@qqi")
_pack_arrival: Final = _ARRIVAL.pack


@dataclass
class FlowRecord:
    """Raw per-packet record of one flow's data direction.

    Delivered packets are packed into one buffer as they arrive (one call per packet);
    `arrivals_us`, `delays_us` and `sizes` give them as arrays, column by column.
    """

    flow: int
    app: str
    sent_packets: int = 0
    sent_bytes: int = 0
    ce_marked: int = 0
    dropped_packets: int = 0
    packed: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def received(self) -> int:
        """Data packets delivered so far."""
        return len(self.packed) // _ARRIVAL.size

    @property
    def arrivals_us(self) -> array:
        """Arrival time (µs) of each delivered packet."""
        return array("q", _column(self.packed, "t"))

    @property
    def delays_us(self) -> array:
        """One-way delay (µs) of each delivered packet: arrival minus send time."""
        return array("q", _column(self.packed, "d"))

    @property
    def sizes(self) -> array:
        """IP size (bytes) of each delivered packet."""
        return array("i", _column(self.packed, "s"))

    def on_send(self, pkt: Packet) -> None:
        """A data packet left the sender."""
        self.sent_packets += 1
        self.sent_bytes += pkt.size

    def on_drop(self, pkt: Packet, t: int) -> None:
        """The network dropped one of this flow's data packets."""
        self.dropped_packets += 1

    def on_receive(self, pkt: Packet, t: int) -> None:
        """A data packet reached the receiver at `t`."""
        self.packed += _pack_arrival(t, t - pkt.sent, pkt.size)
        if pkt.ecn == 0b11:
            self.ce_marked += 1


def _column(packed: bytearray, name: str) -> bytes:
    import numpy as np

    rows = np.frombuffer(packed, dtype=np.dtype([("t", np.int64), ("d", np.int64), ("s", np.int32)]))
    return rows[name].tobytes()


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile, or NaN for no values."""
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


def summarize_flow(rec: FlowRecord, start_us: int, end_us: int) -> dict:
    """Throughput, delay percentiles, loss and CE fraction of one flow over [start_us, end_us)."""
    import numpy as np

    t = np.frombuffer(rec.arrivals_us, dtype=np.int64)
    sizes = np.frombuffer(rec.sizes, dtype=np.int32)
    delays = np.frombuffer(rec.delays_us, dtype=np.int64)
    mask = (t >= start_us) & (t < end_us)
    window_s = max(end_us - start_us, 1) / 1e6
    delivered = int(sizes[mask].sum())
    d_ms = delays[mask] / 1000
    received = len(t)
    return {
        "flow": rec.flow,
        "app": rec.app,
        "throughput_mbps": delivered * 8 / window_s / 1e6,
        "delay_ms_p50": percentile(d_ms, 50),
        "delay_ms_p95": percentile(d_ms, 95),
        "delay_ms_p99": percentile(d_ms, 99),
        "delay_ms_mean": float(d_ms.mean()) if len(d_ms) else float("nan"),
        "loss_rate": rec.dropped_packets / rec.sent_packets if rec.sent_packets else 0.0,
        "ce_fraction": rec.ce_marked / received if received else 0.0,
        "packets_sent": rec.sent_packets,
        "packets_received": received,
        "bytes_delivered": delivered,
    }


def wire_bytes_in(records: list[FlowRecord], start_us: int, end_us: int) -> int:
    """Bytes delivered in the window by all flows, counted as mm-link counts them (IP + 4)."""
    import numpy as np

    total = 0
    for rec in records:
        t = np.frombuffer(rec.arrivals_us, dtype=np.int64)
        sizes = np.frombuffer(rec.sizes, dtype=np.int32)
        mask = (t >= start_us) & (t < end_us)
        total += int(sizes[mask].sum()) + TUN_HEADER_BYTES * int(mask.sum())
    return total


def throughput_series(rec: FlowRecord, end_us: int, bin_ms: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(bin start seconds, Mbit/s per bin) of a flow's delivered bytes."""
    import numpy as np

    nbins = max(1, -(-end_us // (bin_ms * 1000)))
    t = np.frombuffer(rec.arrivals_us, dtype=np.int64)
    sizes = np.frombuffer(rec.sizes, dtype=np.int32)
    idx = np.minimum(t // (bin_ms * 1000), nbins - 1)
    per_bin = np.bincount(idx, weights=sizes, minlength=nbins)[:nbins]
    return np.arange(nbins) * bin_ms / 1000, per_bin * 8 / (bin_ms / 1000) / 1e6

"""Temporal-layer choice per receiver from its REMB downlink estimate: smoothing and hysteresis."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerPolicy:
    """Thresholds of a receiver's smoothed downlink estimate (bit/s) for each temporal layer.

    Layer 2 (full rate) at or above `full_bps`, layer 1 (half) at or above `half_bps`, else layer 0
    (quarter). Moving down happens on the first smoothed estimate below the current layer's
    threshold; moving up needs the estimate at least `up_margin` times the new layer's threshold
    for `up_hold_us` without a break, so a receiver near a threshold does not flap. `alpha` is the
    weight of a new REMB in the exponentially weighted estimate.
    """

    full_bps: float = 2e6
    half_bps: float = 1e6
    up_margin: float = 1.15
    up_hold_us: int = 1_000_000
    alpha: float = 0.5

    def layer_for(self, bps: float) -> int:
        """The layer an estimate supports without hysteresis."""
        return 2 if bps >= self.full_bps else 1 if bps >= self.half_bps else 0

    def threshold(self, tid: int) -> float:
        """The estimate a layer needs."""
        return (0.0, self.half_bps, self.full_bps)[tid]


class LayerChooser:
    """One receiver's smoothed estimate and current layer (starts at full rate until told otherwise)."""

    def __init__(self, policy: LayerPolicy, tid: int = 2):
        self.policy = policy
        self.tid = tid
        self.estimate_bps: float | None = None
        self._up_since: int | None = None

    def update(self, remb_bps: float, now_us: int) -> int:
        """Take one REMB; return the layer to forward from now on."""
        p = self.policy
        self.estimate_bps = remb_bps if self.estimate_bps is None else \
            p.alpha * remb_bps + (1 - p.alpha) * self.estimate_bps
        est = self.estimate_bps
        if est < p.threshold(self.tid):
            self.tid = p.layer_for(est)
            self._up_since = None
            return self.tid
        target = self.tid
        while target < 2 and est >= p.up_margin * p.threshold(target + 1):
            target += 1
        if target == self.tid:
            self._up_since = None
        elif self._up_since is None:
            self._up_since = now_us
        elif now_us - self._up_since >= p.up_hold_us:
            self.tid = target
            self._up_since = None
        return self.tid

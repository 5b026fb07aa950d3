"""Online bandwidth estimate from chunk acknowledgements, and the per-chunk choice of KV level or text.

The server sees only its own writes and the client's CHUNK_ACKs (no oracle). A
chunk's throughput sample is its bytes over the time the link spent on it: from
the later of its write and the previous chunk's ACK, to its own ACK; when it was
written onto an idle link, that interval also holds one round trip (the write
reaching the client and the ACK coming back), which is taken off. The estimate
is the bytes-weighted harmonic mean of the last few samples (total bytes over
total time), which reacts within ``window`` chunks and is not pulled up by one
lucky burst. Tiny chunks (text) give no sample. Until the first sample the
estimate is a stated prior.

:class:`AdaptiveController` re-plans the rest of the request every time it writes
a chunk. The deadline is the client's request time plus its TTFT target, in the
server's clock (the request arrived one one-way delay after it was sent). For
each candidate plan of the remaining chunks it predicts, with the current
estimate (times a safety factor), when the receiver would finish processing the
last chunk: transfers are serial on the link, processing is serial on the
receiver and overlaps transfers (chunk i is decoded, or recomputed from text,
while chunk i+1 arrives). Candidates are "every remaining chunk at KV option o",
the same with text swapped in for any chunk whose recompute would finish sooner
than fetching it (the receiver's compute would otherwise sit idle while the link
is the bottleneck), and "all text". It keeps the highest-quality plan of KV
alone predicted to meet the deadline; only when there is none does it consider
the plans with text (recompute costs the receiver compute that reusing the KV
is meant to save, as in CacheGen, where text is the fallback), again the
highest-quality one that meets the deadline; when no plan meets it, the plan
predicted to finish first (the cheapest). It sends the chosen plan's next
chunk. Because every decision starts from the real clock, time a chunk saved is
spent on later chunks (leftover budget carries forward) and time it overran is
taken from them.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CostModel", "ThroughputEstimator", "ControllerBase", "FixedController", "AdaptiveController",
           "DEFAULT_PRIOR_BPS", "DEFAULT_MENU", "SAFETY", "make_controller"]

#: Throughput assumed before the first sample: 4 Mbit/s, below the median of the LTE traces' per-second rates.
DEFAULT_PRIOR_BPS = 4e6 / 8
#: Share of the throughput estimate the adaptive controller plans with. LTE capacity swings within one
#: request, so planning right up to the estimate misses often; 0.6 was picked on a development sweep over
#: the LTE traces with other requests (seed 1) than docs/kvstream_streaming.md reports (its safety table).
SAFETY = 0.6
#: The adaptive policy's options: CacheGen's levels and text (as in CacheGen's streamer).
DEFAULT_MENU = tuple(f"kvstream-L{i}" for i in range(5)) + ("text",)


class CostModel(Protocol):
    """Per-chunk option costs the controller plans with (a :class:`~.profile.StreamProfile`)."""

    n_chunks: int

    def size(self, index: int, option: str) -> int:
        """Payload bytes."""
        ...

    def process_us(self, index: int, option: str) -> int:
        """Receiver processing: decode (KV) or recompute (text), µs."""
        ...

    def quality(self, index: int, option: str) -> float:
        """Model-output quality of the chunk's KV with this option (1.0 = exact)."""
        ...


@dataclass
class ThroughputEstimator:
    """Bytes-weighted harmonic mean of the last ``window`` per-chunk throughput samples (bytes/s)."""

    prior_bps: float = DEFAULT_PRIOR_BPS
    window: int = 3
    min_sample_bytes: int = 16_000
    samples: deque = field(default_factory=deque)  # (bytes, seconds)

    def add(self, size: int, seconds: float) -> bool:
        """Add a sample; returns False (and ignores it) for chunks too small to time."""
        if size < self.min_sample_bytes or seconds <= 0:
            return False
        self.samples.append((size, seconds))
        while len(self.samples) > self.window:
            self.samples.popleft()
        return True

    @property
    def estimate_bps(self) -> float:
        """Current estimate in bytes per second."""
        if not self.samples:
            return self.prior_bps
        return sum(b for b, _ in self.samples) / sum(s for _, s in self.samples)


@dataclass
class _Sent:
    option: str
    size: int
    written_us: int
    acked_us: int | None = None


class ControllerBase:
    """Bookkeeping shared by every policy: writes, ACKs, throughput samples and the deadline.

    ``rtt_us`` is the round trip used to turn ACK times into arrival times and
    the client's deadline into the server's clock; drivers may refresh it from
    the transport (:meth:`set_rtt`).
    """

    def __init__(self, profile: CostModel, prior_bps: float = DEFAULT_PRIOR_BPS, window: int = 3,
                 rtt_us: int = 100_000) -> None:
        self.profile = profile
        self.estimator = ThroughputEstimator(prior_bps, window)
        self.rtt_us = rtt_us
        self.sent: list[_Sent] = []
        self.decisions: list[dict] = []
        self.estimates: list[tuple[int, int, float]] = []  # (ack time µs, chunk, estimate bytes/s after it)
        self.start_us = 0
        self.target_us = 0
        self.n_chunks = 0

    def set_rtt(self, rtt_us: int) -> None:
        """Use this round-trip time from now on."""
        if rtt_us > 0:
            self.rtt_us = int(rtt_us)

    @property
    def deadline_us(self) -> int:
        """The client's TTFT deadline in the server's clock."""
        return self.start_us - self.rtt_us // 2 + self.target_us

    def start(self, now_us: int, target_us: int, n_chunks: int) -> None:
        """A REQUEST arrived at ``now_us`` asking for ``n_chunks`` chunks within ``target_us``."""
        if n_chunks != self.profile.n_chunks:
            raise ValueError(f"request has {n_chunks} chunks, profile has {self.profile.n_chunks}")
        self.start_us, self.target_us, self.n_chunks = now_us, target_us, n_chunks

    def choose(self, index: int, now_us: int) -> str:
        """The option for chunk ``index``, about to be written at ``now_us``."""
        raise NotImplementedError

    def on_sent(self, index: int, option: str, size: int, now_us: int) -> None:
        """Chunk ``index`` was written with ``option`` (``size`` payload bytes)."""
        self.sent.append(_Sent(option, size, now_us))

    def on_ack(self, index: int, now_us: int) -> None:
        """The client acknowledged chunk ``index``: take a throughput sample."""
        rec = self.sent[index]
        rec.acked_us = now_us
        prev = self.sent[index - 1].acked_us if index > 0 else None
        if prev is not None and rec.written_us <= prev:
            seconds = (now_us - prev) / 1e6  # queued behind the previous chunk: the link was busy throughout
        else:
            took = now_us - rec.written_us  # written onto an idle link: one round trip is not transfer
            seconds = max(took - self.rtt_us, took // 2) / 1e6
        self.estimator.add(rec.size, seconds)
        self.estimates.append((now_us, index, self.estimator.estimate_bps))


class FixedController(ControllerBase):
    """Every chunk with the same option (the int8 / fp16 / text / fixed-level baselines)."""

    def __init__(self, profile: CostModel, option: str, **kwargs: object) -> None:
        super().__init__(profile, **kwargs)  # type: ignore[arg-type]
        self.option = option

    def choose(self, index: int, now_us: int) -> str:
        """Always the fixed option."""
        self.decisions.append({"index": index, "option": self.option, "now_us": now_us,
                               "estimate_bps": self.estimator.estimate_bps})
        return self.option


class AdaptiveController(ControllerBase):
    """Picks each chunk's option from ``menu`` to meet the TTFT deadline at the best quality (module docstring)."""

    def __init__(self, profile: CostModel, menu: tuple[str, ...] = DEFAULT_MENU, safety: float = SAFETY,
                 **kwargs: object) -> None:
        super().__init__(profile, **kwargs)  # type: ignore[arg-type]
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        self.menu = tuple(menu)
        self.kv_menu = tuple(o for o in self.menu if o != "text")
        self.safety = safety

    def _state(self, now_us: int, bpus: float) -> tuple[float, float]:
        """Predicted (link free, receiver free) times, in the server's clock, from what was already sent."""
        owd = self.rtt_us / 2
        prof = self.profile
        link = float(now_us)
        busy = float("-inf")
        prev_ack: int | None = None
        in_flight = False
        for k, rec in enumerate(self.sent):
            if rec.acked_us is not None:
                arrival = rec.acked_us - owd
            else:
                if not in_flight:  # the oldest unacknowledged chunk has been on the link since this time
                    began = max(rec.written_us, prev_ack if prev_ack is not None else rec.written_us)
                    link = max(float(now_us), began + rec.size / bpus)
                    in_flight = True
                else:
                    link += rec.size / bpus
                arrival = link + owd
            prev_ack = rec.acked_us
            busy = max(arrival, busy) + prof.process_us(k, rec.option)
        return link, busy

    def _plan(self, first: int, link: float, busy: float, bpus: float, kind: str,
              option: str) -> tuple[float, float, str]:
        """Predict a plan of the remaining chunks: (finish time, mean quality, first chunk's option)."""
        prof = self.profile
        owd = self.rtt_us / 2
        qsum, first_opt = 0.0, option
        for j in range(first, self.n_chunks):
            opt = "text" if kind == "text" else option
            arr = link + prof.size(j, opt) / bpus
            fin = max(arr + owd, busy) + prof.process_us(j, opt)
            if kind == "textsub":
                t_arr = link + prof.size(j, "text") / bpus
                t_fin = max(t_arr + owd, busy) + prof.process_us(j, "text")
                if t_fin < fin:
                    opt, arr, fin = "text", t_arr, t_fin
            if j == first:
                first_opt = opt
            link, busy = arr, fin
            qsum += prof.quality(j, opt)
        return busy, qsum / max(1, self.n_chunks - first), first_opt

    def choose(self, index: int, now_us: int) -> str:
        """Highest-quality plan predicted to meet the deadline; else the plan predicted to finish first."""
        bps = self.estimator.estimate_bps * self.safety
        bpus = bps / 1e6
        link, busy = self._state(now_us, bpus)
        plans = []
        for opt in self.kv_menu:
            plans.append(("pure", opt, *self._plan(index, link, busy, bpus, "pure", opt)))
            if "text" in self.menu:
                plans.append(("textsub", opt, *self._plan(index, link, busy, bpus, "textsub", opt)))
        if "text" in self.menu:
            plans.append(("text", "text", *self._plan(index, link, busy, bpus, "text", "text")))
        deadline = self.deadline_us
        feasible = [p for p in plans if p[2] <= deadline]
        kv_only = [p for p in feasible if p[0] == "pure"]
        if kv_only or feasible:  # text is the fallback: only when no plan of KV alone makes it
            best = max(kv_only or feasible, key=lambda p: (p[3], -p[2]))
        else:
            best = min(plans, key=lambda p: (p[2], -p[3]))
        self.decisions.append({"index": index, "option": best[4], "plan": f"{best[0]}:{best[1]}",
                               "now_us": now_us, "estimate_bps": self.estimator.estimate_bps,
                               "predicted_finish_us": int(best[2]), "deadline_us": deadline,
                               "feasible": bool(feasible)})
        return best[4]


def make_controller(policy: str, profile: CostModel, **kwargs: object) -> ControllerBase:
    """``kvstream`` (adaptive over :data:`DEFAULT_MENU`) or a fixed option name (``int8``, ``kvstream-L2``, ...)."""
    if policy == "kvstream":
        return AdaptiveController(profile, **kwargs)  # type: ignore[arg-type]
    adaptive_only = {"menu", "safety"}
    return FixedController(profile, policy, **{k: v for k, v in kwargs.items() if k not in adaptive_only})

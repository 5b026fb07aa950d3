"""`kvstream` as an app: one KV-cache streaming request, the server streaming profiled chunks to the client.

The client (client host) sends REQUEST over netkit's reliable stream; the server
(server host) streams the chunks a controller picks (`policy`: adaptive
`kvstream`, a fixed level `kvstream-L0..L4`, or `int8`, `fp16`, `text`), sized and
timed by a measured `profile` (JSON from `kvstream stream-bench` or
`benchmarks/kvstream_streaming.py`). The app emits `done` when the client has
its first token and the server has heard every chunk acknowledged. Metrics: ttft_ms (NaN if not done within the run), miss (1
when later than `target_s` or not done), quality, sent_mb, chunks_ok.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from netkit import validate as v
from netkit.experiment.app import App, FlowPlan, Param, WatchedEndpoint

from .controller import make_controller
from .profile import StreamProfile
from .streaming import KVStreamClient, KVStreamServer, SyntheticChunkSource, profile_processor
from .streamsim import StreamApp, request_ok


#: options by code, for the per-chunk `chunk_option.I` metrics
OPTION_CODES = tuple(f"kvstream-L{i}" for i in range(5)) + ("int8", "fp16", "text")


class KVStreamApp(App):
    """One KV streaming request (see the module docstring)."""

    name = "kvstream"
    help = "adaptive KV-cache streaming against int8, fp16 and text"
    runs_to_completion = True
    params = (
        Param("profile", "path", None, "stream profile JSON (sizes, processing times, qualities per chunk)"),
        Param("profile_object", "object", None, "a StreamProfile (Python callers only)"),
        Param("policy", "str", "kvstream", "kvstream, kvstream-L0..L4, int8, fp16 or text"),
        Param("target_s", "float", 20.0, "TTFT target in seconds", maximum=v.MAX_DURATION_S, minimum=0, min_exclusive=True),
        Param("context_id", "int", 1, "context identifier in REQUEST", maximum=2**32 - 1, minimum=0),
        Param("cap_s", "float", None, "give up this long after the start (default 3 x target_s)", maximum=v.MAX_DURATION_S, minimum=0,
              min_exclusive=True),
        Param("controller_kwargs", "object", None, "controller options, e.g. {safety = 0.7} (Python callers)"),
    )

    @classmethod
    def validate(cls, params, key: str) -> None:
        """A profile is given and readable, and the policy is adaptive or one of its options."""
        from netkit.errors import UserError

        prof = params["profile_object"]
        if prof is None:
            if not params["profile"]:
                raise UserError("required; a stream profile JSON", f"{key}.profile")
            try:
                prof = StreamProfile.load(params["profile"])
            except (ValueError, KeyError, OSError) as exc:
                raise UserError(f"not a stream profile: {exc}", f"{key}.profile") from None
        if params["policy"] != "kvstream" and params["policy"] not in prof.options:
            raise UserError(f"expected kvstream or an option of the profile ({', '.join(prof.options)}), "
                            f"got {params['policy']!r}", f"{key}.policy")

    def flows(self) -> list[FlowPlan]:
        prof = self.p["profile_object"]
        if prof is None:
            prof = StreamProfile.load(self.p["profile"])
        self.profile = prof
        try:
            self.controller = make_controller(self.p["policy"], prof, **(self.p["controller_kwargs"] or {}))
        except (KeyError, ValueError) as exc:
            from netkit.errors import UserError

            raise UserError(str(exc), f"apps.{self.ctx.index}.policy") from None
        self.server = KVStreamServer(SyntheticChunkSource(prof.n_chunks, prof.size), self.controller)
        self.target_us = int(self.p["target_s"] * 1e6)
        self.client = KVStreamClient(self.p["context_id"], self.target_us, profile_processor(prof.process_us))
        ctrl = self.controller

        def feed_rtt(ep) -> None:
            if ep.sender.rtt.has_sample:
                ctrl.set_rtt(ep.sender.rtt.min)

        ctx, client, server = self.ctx, self.client, self.server
        signalled = []
        self.cap_us = int((self.p["cap_s"] if self.p["cap_s"] is not None else 3 * self.p["target_s"]) * 1e6)
        deadline = self.ctx.start_us + self.cap_us

        def check(now: int, give_up: bool = False) -> None:
            # done: the client has its first token and the server has heard every chunk acknowledged
            complete = client.done_us is not None and all(r.acked_us is not None for r in server.records)
            if not signalled and (complete or give_up):
                signalled.append(now)
                self.gave_up = give_up and client.done_us is None
                ctx.done(now)

        def watched(proto):
            def receive(data: bytes, now: int) -> None:
                proto.receive_data(data, now)
                check(now)

            return _Proto(proto, receive)

        self.gave_up = False
        return [FlowPlan(WatchedEndpoint(StreamApp(watched(server), on_pump=feed_rtt), check, deadline),
                         StreamApp(watched(client)), self.p["policy"])]

    def metrics(self) -> dict[str, float]:
        c, s = self.client, self.server
        ttft = c.ttft_us
        if ttft is not None and c.done_us is not None and c.done_us > self.ctx.start_us + self.cap_us:
            ttft = None  # after the cap: censored, as a request the client gave up on
        got = [c.chunks[i] for i in sorted(c.chunks)]
        quality = float(np.mean([self.profile.quality(x.index, x.option) for x in got])) if got else math.nan
        return {"ttft_ms": ttft / 1000 if ttft is not None else math.nan,
                "miss": float(ttft is None or ttft > self.target_us),
                "quality": quality, "sent_mb": sum(r.size for r in s.records) / 1e6,
                "chunks_ok": float(request_ok(self.profile, s, c)),
                "est_mbps_final": self.controller.estimator.estimate_bps * 8 / 1e6,
                **{f"chunks.{o}": float(n) for o, n in sorted(Counter(r.option for r in s.records).items())},
                # the option of each chunk sent, in order, as its index in OPTION_CODES (-1: another option)
                **{f"chunk_option.{i}": float(OPTION_CODES.index(r.option) if r.option in OPTION_CODES else -1)
                   for i, r in enumerate(s.records)}}


class _Proto:
    """The client protocol with its `receive_data` wrapped (to emit `done` on the first token)."""

    def __init__(self, proto, receive) -> None:
        self._proto = proto
        self.receive_data = receive

    def data_to_send(self, now: int) -> bytes:
        return self._proto.data_to_send(now)

    def __getattr__(self, name: str):
        return getattr(self._proto, name)

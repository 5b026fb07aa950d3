"""The `sfu` app of the experiment layer: meetings on a star topology, the SFU node at its center.

Participants sit on hosts h1..hN (meeting-major: h1..hP are meeting 1), each behind the experiment's own
`hI.down`/`hI.up` links, so downlink traces, delays, losses and queues come from `[links.hI]`. The app
asks for no point-to-point flows; instead the simulator runner calls `attach_sim(sim, net)`, and the app
wires its participants and the SFU (`scallop`: the P4 program as a SimSwitch; `software`: the baseline)
into the network's pipes. Live (`mode = "emu"`), the runner calls `start_live(net)` inside the experiment's
`LiveNetwork` before its clock starts, `go_live()` on the running loop and `stop_live()` at the end: the
SFU (`netkit p4 serve --target software` on the centre's link ends, or the software SFU's UDP loop) and
the participants run as in `netkit sfu bench --mode emu` (netkit/apps/sfu/live.py).
"""
from __future__ import annotations

from typing import Any, ClassVar

from netkit.errors import UserError
from netkit.experiment.app import App, FlowPlan, Param


class SfuApp(App):
    """N-party meetings through one SFU; metrics are the `sfus.<name>` numbers of `netkit sfu bench`."""

    name: ClassVar[str] = "sfu"
    help: ClassVar[str] = "Scallop-style SFU meetings on a star topology"
    params: ClassVar[tuple[Param, ...]] = (
        Param("participants", "int", 3, "participants per meeting", maximum=64, minimum=2),
        Param("meetings", "int", 1, "meetings", maximum=1000, minimum=1),
        Param("sfu", "choice", "scallop", "which SFU", choices=("scallop", "software")),
        Param("decode", "bool", True, "decode received video with libvpx"),
    )
    modes: ClassVar[tuple[str, ...]] = ("sim", "emu")

    def __init__(self, params, ctx) -> None:
        super().__init__(params, ctx)
        self.run = None
        self.live = None

    def flows(self) -> list[FlowPlan]:
        """None: the app attaches its own node (see `attach_sim`)."""
        return []

    def attach_sim(self, sim, net) -> None:
        """Wire participants and the SFU into a `SimNetwork` of a star with participants x meetings hosts."""
        from netkit.apps.sfu.sim import MeetingRun

        self.run = MeetingRun(sim, net.pipes, self._plan(net.topology), self.p["sfu"])

    def _plan(self, topo):
        from netkit.apps.sfu.sim import MeetingPlan

        n = self.p["participants"] * self.p["meetings"]
        if topo.kind != "star" or topo.hosts != n:
            raise UserError(f"the sfu app needs a star with participants x meetings = {n} hosts "
                            f"(topology.kind = \"star\", topology.hosts = {n})", f"apps.{self.ctx.key}")
        return MeetingPlan(participants=self.p["participants"], meetings=self.p["meetings"],
                           traces=tuple(topo.direction(f"h{i + 1}.down").trace or "none" for i in range(n)),
                           duration_s=self.ctx.duration_us / 1e6, warmup_s=self.ctx.warmup_us / 1e6,
                           seed=self.ctx.seed, decode=self.p["decode"])

    def start_live(self, net) -> None:
        """Start the SFU and the participants in a live star (`LiveNetwork` holding its clock)."""
        from netkit.apps.sfu.live import LiveMeetingRun

        self.live = LiveMeetingRun(self._plan(net.topology), self.p["sfu"], realtime=net.realtime)
        self.live.start(net)

    def go_live(self) -> None:
        """The clock runs: release the participants (on the running loop)."""
        self.live.go()

    def stop_live(self, failed: bool = False) -> None:
        """Collect the measurements (unless the run failed) and stop the SFU and the participants."""
        self.live.stop(collect=not failed)

    def metrics(self) -> dict[str, Any]:
        """The summary's numbers (flat); per-receiver rows are in `self.summary()['receivers']`."""
        if self.live is not None:
            s = self.live.summary()
        elif self.run is not None:
            s = self.run.summary()
        else:
            return {}
        out = {k: v for k, v in s.items() if isinstance(v, (int, float))}
        out["fps_min"] = min((r["fps"] for r in s["receivers"]), default=0.0)
        out["max_freeze_ms"] = max((r["max_freeze_ms"] for r in s["receivers"]), default=0.0)
        out["layer_changes"] = len(s["layer_changes"])
        return out

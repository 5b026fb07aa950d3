"""The transport workloads as apps: `bulk` (a saturating flow with Cubic, Reno or Prague) and `cbr`."""
from __future__ import annotations

from netkit import validate as v
from netkit.experiment.app import App, FlowPlan, Param
from netkit.sim.metrics import summarize_flow
from netkit.transport.datagram import CBR_HEADER, CbrReceiver, CbrSender
from netkit.transport.stream import StreamReceiver, StreamSender

BULK_CONTROLLERS = ("cubic", "reno", "prague")
_ECN = {"not-ect": 0, "ect1": 1, "ect0": 2}
_FLOW_METRICS = ("throughput_mbps", "delay_ms_p50", "delay_ms_p95", "delay_ms_p99", "delay_ms_mean", "loss_rate",
                 "ce_fraction", "packets_sent", "packets_received")


class _FlowApp(App):
    """One flow from the server to the client for the whole run; metrics of its data over the window."""

    def metrics(self) -> dict[str, float]:
        s = summarize_flow(self.ctx.records[0], self.ctx.warmup_us, self.ctx.end_us)
        return {k: s[k] for k in _FLOW_METRICS}


class BulkApp(_FlowApp):
    """A bulk transfer over netkit's reliable stream, with Cubic, Reno or Prague (Prague paces and uses ECN)."""

    name = "bulk"
    help = "saturating reliable stream from server to client"
    params = (
        Param("cc", "choice", "cubic", "congestion control", choices=BULK_CONTROLLERS),
        Param("ecn", "bool", None, "send ECT (default: only with prague)"),
    )

    def flows(self) -> list[FlowPlan]:
        cc = self.p["cc"]
        ecn = (cc == "prague") if self.p["ecn"] is None else self.p["ecn"]
        self.sender = StreamSender(cc, pacing=cc == "prague", ecn=ecn, bulk=True)
        return [FlowPlan(self.sender, StreamReceiver(), cc)]


class CbrApp(_FlowApp):
    """Constant-bit-rate datagrams from server to client."""

    name = "cbr"
    help = "constant bit rate datagrams"
    params = (Param("rate_mbps", "float", 6.0, "sending rate in Mbit/s", maximum=v.MAX_RATE_MBPS, minimum=0.0, min_exclusive=True),
              Param("ecn", "choice", "not-ect", "ECN codepoint of every datagram", choices=tuple(_ECN)))

    def flows(self) -> list[FlowPlan]:
        mbps = self.p["rate_mbps"]
        self.receiver = SequenceReceiver()
        return [FlowPlan(CbrSender(mbps, ecn=_ECN[self.p["ecn"]]), self.receiver, f"cbr:{mbps:g}")]


class SequenceReceiver(CbrReceiver):
    """A CBR receiver that also keeps each arrival's sequence number and ECN codepoint (which packets were lost
    or marked: the per-packet decisions of the links)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[int, int]] = []

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Record one datagram and its (sequence number, ECN)."""
        if len(data) >= CBR_HEADER.size:
            self.arrivals.append((CBR_HEADER.unpack_from(data)[0], ecn))
        super().receive_datagram(data, now, ecn)

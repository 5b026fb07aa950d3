"""`swiftqueue` as an app: one latency-sensitive Prague flow whose packets are marked for the L or C queue.

Parameters: `policy` (swiftqueue: the transformer; l4s: all ECT(1); classic: all
ECT(0); oracle: the queue a packet would leave first given the simulated
bottleneck's current state, simulator only (`lookahead.LookaheadOracle`);
oracle-l4s: the true sojourns of the per-flow L4S run, Python callers only;
last/ewma/mean: the simple predictors in the same policy, used to generate training
data; decision: a classifier of the oracle's decision, `policy.DecisionPolicy`), the flow's
application rate, the model file, hysteresis, probe spacing and how often the
model runs. Metrics over the window after warm-up: the flow's one-way packet
latency (p50/p95/p99), throughput, share of packets sent in L, switches, losses and
spurious retransmissions.
"""
from __future__ import annotations

import os

import numpy as np

from netkit.apps.swiftqueue.lookahead import ArrivalLog, BottleneckView, LookaheadOracle, LookaheadRecorder
from netkit.apps.swiftqueue.policy import DecisionPolicy, FixedPolicy, OraclePolicy, PredictivePolicy
from netkit.apps.swiftqueue.sender import AckEveryReceiver, MarkingSender
from netkit.errors import UserError
from netkit import validate as v
from netkit.experiment.app import App, FlowPlan, Param
from netkit.sim.metrics import percentile, summarize_flow
from netkit.transport.base import MAX_DATAGRAM_PAYLOAD

FULL_PACKET_BYTES = MAX_DATAGRAM_PAYLOAD + 28  # IP bytes of a full-size packet of the flow

POLICIES = ("swiftqueue", "l4s", "classic", "oracle", "oracle-l4s", "last", "ewma", "mean", "decision")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_MODEL = os.path.join(REPO_ROOT, "models", "swiftqueue", "swiftqueue.pt")
DEFAULT_DECISION_MODEL = os.path.join(REPO_ROOT, "models", "swiftqueue", "swiftqueue_decision.pt")


def model_path(policy: str, model: str | None) -> str:
    """The model file a policy runs: `model` if given, else the committed decision or latency model."""
    return model or (DEFAULT_DECISION_MODEL if policy == "decision" else DEFAULT_MODEL)


def make_predictor(policy: str, model: str | None, infer_every_us: int, bias: tuple[float, float] | None = None):
    """The predictor a policy runs on: a simple one, or the torch model in `model` (imported only then)."""
    from netkit.apps.swiftqueue.predictors import SIMPLE

    if policy in SIMPLE:
        return SIMPLE[policy](bias=bias or (0.0, 0.0))
    from netkit.apps.swiftqueue.model import TorchPredictor, is_decision_model, load_model

    path = model_path(policy, model)
    if not os.path.exists(path):
        raise UserError(f"no model file {path!r}; train one with `netkit swiftqueue train`", "model")
    m = load_model(path)
    if is_decision_model(m) != (policy == "decision"):
        want = "a decision model (--target decision)" if policy == "decision" else "a latency model"
        raise UserError(f"{path}: policy {policy} needs {want}", "model")
    return TorchPredictor(m, infer_every_us)


_LOADABLE: set = set()  # (path, mtime) of model files that loaded once (validation runs per sweep point)


class SwiftQueueApp(App):
    """The measured flow with per-packet queue selection (see the module docstring)."""

    name = "swiftqueue"
    help = "per-packet L4S queue selection from a latency predictor (SwiftQueue)"
    params = (
        Param("policy", "choice", "swiftqueue", "queue selection", choices=POLICIES),
        Param("rate_mbps", "float", 0.6, "application rate (0: bulk)", maximum=v.MAX_RATE_MBPS, minimum=0.0),
        Param("model", "path", None, "model file (default models/swiftqueue/swiftqueue.pt)"),
        Param("hysteresis_ms", "float", 1.0, "switch only when the other queue is this much faster", maximum=v.MAX_DELAY_MS, minimum=0.0),
        Param("probe_ms", "float", 100.0, "probe the other queue this often (0: never)", maximum=v.MAX_DELAY_MS, minimum=0.0),
        Param("probe_far_ms", "float", 1000.0, "... this often while it is predicted far worse", maximum=v.MAX_DELAY_MS, minimum=0.0),
        Param("error_margin", "float", 12.0, "move into C only if the gain exceeds this many of the predictor's "
              "recent errors on C (0: off)", maximum=1000.0, minimum=0.0),
        Param("decision_threshold", "float", 0.9, "decision: send into C when P(C faster) exceeds this",
              maximum=1.0, minimum=0.0),
        Param("decision_probe_ms", "float", 0.0, "decision: one packet into C when none went there for this "
              "long (0: never)", maximum=v.MAX_DELAY_MS, minimum=0.0),
        Param("infer_every_us", "int", 1000, "run the model at most this often (µs), reuse between", maximum=3_600_000_000, minimum=0),
        Param("oracle_timeline", "object", None, "oracle-l4s: a truth.Timeline of the L4S run (Python callers)"),
        Param("oracle_stale_ms", "float", 0.0, "oracle: decide on the bottleneck's state this long ago",
              maximum=v.MAX_DELAY_MS, minimum=0.0),
        Param("oracle_future", "object", None, "oracle: the bottleneck arrivals of the L4S run "
              "(lookahead.ArrivalLog.array(); Python callers)"),
        Param("record_arrivals", "object", False, "simulator: record every bottleneck arrival (Python callers)"),
        Param("record_lookahead", "object", False, "simulator: record the bottleneck lookahead (L, C ms) at "
              "every ACK (training targets; Python callers)"),
        Param("bias", "object", None, "simple predictors: (L, C) ms added (Python callers)"),
    )

    @classmethod
    def validate(cls, params, key: str) -> None:
        """A policy that runs the torch model needs a model file that loads (checked before the run starts)."""
        from netkit.apps.swiftqueue.predictors import SIMPLE

        if params["policy"] in ("l4s", "classic", "oracle", "oracle-l4s") or params["policy"] in SIMPLE:
            return
        path = model_path(params["policy"], params["model"])
        stamp = (path, os.path.getmtime(path), params["policy"] == "decision") if os.path.exists(path) else None
        if stamp is not None and stamp in _LOADABLE:
            return
        try:
            make_predictor(params["policy"], path, params["infer_every_us"])
        except UserError as exc:
            raise UserError(exc.message, f"{key}.model") from None
        except ValueError as exc:
            raise UserError(str(exc), f"{key}.model") from None
        _LOADABLE.add(stamp)

    def flows(self) -> list[FlowPlan]:
        p = self.p
        pol = p["policy"]
        if pol in ("l4s", "classic"):
            policy = FixedPolicy(pol == "l4s")
        elif pol == "oracle":
            if self.ctx.mode != "sim":
                raise UserError("policy oracle reads the simulated bottleneck's state: simulator only", "policy")
            policy = LookaheadOracle(self.fwd_delay_us(), FULL_PACKET_BYTES, int(p["oracle_stale_ms"] * 1000))
        elif pol == "oracle-l4s":
            if p["oracle_timeline"] is None:
                raise UserError("policy oracle needs the true sojourns (oracle_timeline), set by "
                                "`netkit swiftqueue bench`", "policy")
            policy = OraclePolicy(p["oracle_timeline"], self.fwd_delay_us())
        elif pol == "decision":
            policy = DecisionPolicy(make_predictor(pol, p["model"], p["infer_every_us"]), p["decision_threshold"],
                                    p["decision_probe_ms"])
        else:
            policy = PredictivePolicy(make_predictor(pol, p["model"], p["infer_every_us"], p["bias"]),
                                      p["hysteresis_ms"], p["probe_ms"], p["probe_far_ms"],
                                      error_margin=p["error_margin"])
        self.policy = policy
        self.recorder = None
        if p["record_lookahead"] and self.ctx.mode == "sim":
            self.recorder = LookaheadRecorder(policy, self.fwd_delay_us(), FULL_PACKET_BYTES)
        self.sender = MarkingSender(self.recorder or policy, p["rate_mbps"])
        return [FlowPlan(self.sender, AckEveryReceiver(), f"swiftqueue:{pol}")]

    def attach_sim(self, sim, net) -> None:
        """Simulator: hand the oracle (and the lookahead recorder) the bottleneck they read."""
        pipe = net.pipes[net.topology.bottleneck()]
        self.arrival_log = None
        if self.p["record_arrivals"]:
            self.arrival_log = ArrivalLog()
            pipe.core.queue.add_observer(self.arrival_log)
        users = [u for u in (self.policy, self.recorder) if hasattr(u, "bind")]
        if users:
            # the flows are numbered in the order the apps add them: this app's first flow is the next one
            own = len(net.flows) + 1
            view = BottleneckView(sim, pipe, self.p["oracle_future"], own)
            for u in users:
                u.bind(view)

    def fwd_delay_us(self) -> int:
        """Propagation delay from the sender to the bottleneck queue (the down route's delays)."""
        return int(sum(d.delay_ms for d in self.ctx.down_route) * 1000)

    def delays_ms(self) -> np.ndarray:
        """One-way delays (ms) of the measured flow's packets that arrived after warm-up."""
        rec = self.ctx.records[0]
        t = np.frombuffer(rec.arrivals_us, dtype=np.int64)
        return np.frombuffer(rec.delays_us, dtype=np.int64)[(t >= self.ctx.warmup_us) & (t < self.ctx.end_us)] / 1000

    def metrics(self) -> dict[str, float]:
        s = summarize_flow(self.ctx.records[0], self.ctx.warmup_us, self.ctx.end_us)
        d = self.delays_ms()
        snd = self.sender
        sent = snd.sent_l + snd.sent_c
        return {
            "throughput_mbps": s["throughput_mbps"],
            "latency_ms_p50": percentile(d, 50),
            "latency_ms_p95": percentile(d, 95),
            "latency_ms_p99": percentile(d, 99),
            "loss_rate": s["loss_rate"],
            "share_l": snd.sent_l / sent if sent else float("nan"),
            "switches": float(getattr(self.policy, "switches", 0)),
            "probes": float(getattr(self.policy, "probes", 0)),
            "packets_lost": float(snd.packets_lost),
            "spurious_retransmits": float(snd.spurious_retransmits),
            "classic_ce_events": float(snd.cc.classic_ce_events),  # type: ignore[attr-defined]
        }

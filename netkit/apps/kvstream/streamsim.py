"""KV streaming requests over trace-driven paths in the simulator: one request, or a sweep over LTE traces.

Each request is a fresh connection: the client (downlink side) sends REQUEST over
netkit's reliable stream, the server streams the profiled chunks back over the
downlink trace, and the client acknowledges chunks and models its processing
pipeline (:mod:`.streaming`). Payloads are tagged synthetic bytes of the
profile's measured sizes; processing times are the profile's measured ones.

Each request is a ``kvstream`` experiment (:mod:`.app`) on a ``path`` topology of
the one network description (``netkit.net``: one-way delay, then the trace link
with its queue; the uplink (REQUEST, CHUNK_ACKs, transport ACKs) crosses the
trace's matching ``.up`` recording when one exists). A sweep (``sweep_of``, run by
the experiment layer's sweep engine) starts requests at seeded offsets along each
trace, the same offsets for every policy, so policies are compared on identical
network conditions.

``python -m netkit.apps.kvstream.streamsim --profile PROFILE.json --out DIR``
writes ``results.json``, ``table.md``, ``ttft_cdf.png`` and ``miss.png``, with the
record of every command (config.json, runs.jsonl, summary.json).
"""
from __future__ import annotations

import argparse
import random
import shlex
import sys
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from netkit.net import LinkDirection, Topology
from netkit.trace.locate import lte_dir
from netkit.transport.base import Datagram
from netkit.transport.endpoint import StreamEndpoint
from netkit.transport.stream import StreamReceiver, StreamSender

from .controller import ControllerBase
from .profile import SERVING_MODELS, StreamProfile
from .streaming import KVStreamClient, KVStreamServer, check_synthetic_payload
from netkit import validate as v

__all__ = ["StreamApp", "kv_path", "kv_experiment", "sweep_of", "row_of", "RequestResult", "simulate_request",
           "request_result", "lte_paths",           "request_offsets", "run_sweep", "summarize", "table_markdown", "plot_results", "write_report", "POLICIES",
           "DEFAULT_TRACE_DIR", "main", "add_stream_bench_arguments", "cmd_stream_bench"]

DEFAULT_TRACE_DIR = lte_dir() or Path("traces")  # NETKIT_TRACES, else ../shared/traces beside the repository
#: Policies compared by default: adaptive, the baselines, and every fixed CacheGen level.
POLICIES = ("kvstream", "int8", "fp16", "text") + tuple(f"kvstream-L{i}" for i in range(5))
_STEP_US = 250_000


class StreamApp:
    """A sans-I/O endpoint: a byte-stream protocol (``receive_data``/``data_to_send``) over a StreamEndpoint.

    ``on_pump(endpoint)`` runs before every send opportunity (the server uses it to
    hand the transport's RTT to its controller).
    """

    def __init__(self, proto: Any, endpoint: StreamEndpoint | None = None,
                 on_pump: Callable[[StreamEndpoint], None] | None = None) -> None:
        self.proto = proto
        self.ep = endpoint or StreamEndpoint(StreamSender("cubic"), StreamReceiver())
        self.ep.receiver.on_data = self._on_data
        self.on_pump = on_pump

    def _on_data(self, chunk: bytes, now: int) -> None:
        self.proto.receive_data(chunk, now)

    def receive_datagram(self, data: bytes, now: int, ecn: int = 0) -> None:
        """Transport datagram in; stream bytes reach the protocol through ``on_data``."""
        self.ep.receive_datagram(data, now, ecn)

    def datagrams_to_send(self, now: int) -> list[Datagram]:
        """Write what the protocol has to say into the stream, then send what the transport allows."""
        if self.on_pump is not None:
            self.on_pump(self.ep)
        out = self.proto.data_to_send(now)
        if out:
            self.ep.sender.write(out)
        return self.ep.datagrams_to_send(now)

    def get_timer(self) -> int | None:
        """The transport's timer."""
        return self.ep.get_timer()

    def handle_timer(self, now: int) -> None:
        """Fire the transport's timer."""
        self.ep.handle_timer(now)


def kv_path(trace: str, uplink: str | None = None, delay_ms: float = 20.0,
            queue: str | None = "droptail:packets=100") -> Topology:
    """A `path` topology with this module's defaults: 20 ms each way, a 100-packet droptail downlink queue.

    Both directions are validated (a `UserError` naming `links.down.queue`, `links.up.trace`, ...).
    """
    down, up = LinkDirection(trace, delay_ms, queue=queue), LinkDirection(uplink, delay_ms)
    down.validate("links.down")
    up.validate("links.up")
    return Topology("path", down, up)


def kv_experiment(profile: StreamProfile, policy: str, path: Topology, target_s: float, offset_s: float = 0.0,
                  mode: str = "sim", seed: int = 0, cap_s: float | None = None,
                  controller_kwargs: dict | None = None, context_id: int = 1) -> dict:
    """The experiment table of one request over `path`, starting `offset_s` into the trace."""
    app = {"module": "kvstream", "profile_object": profile, "policy": policy, "target_s": target_s,
           "start_s": offset_s, "context_id": context_id}
    if cap_s is not None:
        app["cap_s"] = cap_s
    if controller_kwargs:
        app["controller_kwargs"] = dict(controller_kwargs)
    return {"name": f"kvstream-{policy}", "seed": seed, "mode": mode,
            "duration_s": offset_s + (cap_s if cap_s is not None else 3 * target_s),
            "links": {"down": path.down.to_dict(), "up": path.up.to_dict()}, "apps": [app]}


@dataclass
class RequestResult:
    """One request's outcome (``ttft_s`` None: not done within the simulated cap)."""

    trace: str
    offset_s: float
    policy: str
    target_s: float
    ttft_s: float | None
    miss: bool
    quality: float | None
    mb_sent: float
    options: list[str]
    chunks_ok: bool
    est_mbps_final: float

    def row(self) -> dict:
        """JSON-able record."""
        return asdict(self)


def simulate_request(profile: StreamProfile, policy: str, path: Topology, target_s: float, start_us: int = 0,
                     seed: int = 0, cap_s: float | None = None, controller_kwargs: dict | None = None,
                     context_id: int = 1) -> tuple[RequestResult, KVStreamServer, KVStreamClient]:
    """Run one request of ``policy`` over ``path`` starting ``start_us`` into the trace (a `kvstream` experiment)."""
    from netkit.experiment.runner import run
    from netkit.experiment.spec import parse_experiment

    exp = parse_experiment(kv_experiment(profile, policy, path, target_s, start_us / 1e6, "sim", seed, cap_s,
                                         controller_kwargs, context_id))
    app = run(exp).apps[0]
    res = request_result(profile, policy, path, app.target_us, start_us, app.server, app.client, app.controller,
                         app.cap_us)
    return res, app.server, app.client


def request_result(profile: StreamProfile, policy: str, path: Topology, target_us: int, start_us: int,
                   server: KVStreamServer, client: KVStreamClient, ctrl: ControllerBase,
                   cap_us: int | None = None) -> RequestResult:
    """The record of a finished (or cut-off) request; checks that every chunk arrived once, as it was sent.

    A request whose first token came more than `cap_us` after `start_us` counts as not done (``ttft_s`` None).
    """
    ttft = client.ttft_us
    if ttft is not None and cap_us is not None and client.done_us is not None and client.done_us > start_us + cap_us:
        ttft = None
    got = [client.chunks[i] for i in sorted(client.chunks)]
    ok = request_ok(profile, server, client)
    quality = float(np.mean([profile.quality(c.index, c.option) for c in got])) if got else None
    return RequestResult(path.down.label, start_us / 1e6, policy, target_us / 1e6, None if ttft is None else ttft / 1e6,
                         ttft is None or ttft > target_us, quality, sum(r.size for r in server.records) / 1e6,
                         [r.option for r in server.records], ok, ctrl.estimator.estimate_bps * 8 / 1e6)


def request_ok(profile: StreamProfile, server: KVStreamServer, client: KVStreamClient) -> bool:
    """Every chunk arrived once, in order, as it was sent."""
    got = [client.chunks[i] for i in sorted(client.chunks)]
    return (len(got) == profile.n_chunks and [c.index for c in got] == list(range(profile.n_chunks))
            and all(c.option == r.option and c.size == r.size and check_synthetic_payload(c.head, c.index, c.option)
                    for c, r in zip(got, server.records)))


def lte_paths(trace_dir: str | Path = DEFAULT_TRACE_DIR, delay_ms: float = 20.0,
              queue: str | None = "droptail:packets=100") -> list[Topology]:
    """Every ``*.down`` trace in ``trace_dir``, with its ``.up`` twin as the uplink when present."""
    trace_dir = Path(trace_dir)
    paths = []
    for down in sorted(trace_dir.glob("*.down")):
        up = down.with_suffix(".up")
        paths.append(kv_path(str(down), str(up) if up.exists() else None, delay_ms, queue))
    if not paths:
        raise FileNotFoundError(f"no *.down traces in {trace_dir}")
    return paths


def request_offsets(path: Topology, n: int, span_s: float, seed: int) -> list[int]:
    """``n`` seeded start times (µs, whole ms) along the downlink trace, leaving ``span_s`` before its end."""
    period_ms = path.down.schedule().period_ms
    room = period_ms - int(span_s * 1000)
    rng = random.Random(f"kvstream-offsets:{seed}:{path.down.label}")
    if room <= 0:
        return [0] * n
    return sorted(rng.randrange(0, room) * 1000 for _ in range(n))


def sweep_of(profile: StreamProfile | str, paths: list[Topology], policies: tuple[str, ...] = POLICIES,
             targets_s: tuple[float, ...] = (20.0,), requests_per_trace: int = 20, seed: int = 0,
             cap_factor: float = 3.0, controller_kwargs: dict | None = None):
    """Every (path, offset, target, policy) request as a sweep of one `kvstream` experiment.

    One grid axis ties each path's traces to its seeded offsets and request seeds (the
    same offsets for every policy); the others are the targets and the policies.
    `profile` is a StreamProfile or a profile JSON path (for sweeps recorded to disk).
    """
    from netkit.experiment.sweep import Sweep

    app = {"module": "kvstream", "policy": policies[0], "target_s": targets_s[0]}
    # each request gives up cap_factor x its target after its start (the app's cap_s), as before
    app["profile" if isinstance(profile, str) else "profile_object"] = profile
    if controller_kwargs:
        app["controller_kwargs"] = dict(controller_kwargs)
    span = cap_factor * max(targets_s)
    requests = []
    for path in paths:
        for k, start in enumerate(request_offsets(path, requests_per_trace, span, seed)):
            requests.append({"links.down.trace": path.down.trace, "links.up.trace": path.up.trace,
                             "apps.0.start_s": start / 1e6, "seed": seed * 1000 + k})
    p0 = paths[0]
    data = {"name": "kvstream-stream-bench", "duration_s": span + max(r["apps.0.start_s"] for r in requests),
            "links": {"down": p0.down.to_dict(), "up": p0.up.to_dict()}, "apps": [app]}
    axes = [requests, [{"apps.0.target_s": t, "apps.0.cap_s": cap_factor * t} for t in targets_s],
            [{"apps.0.policy": p} for p in policies]]
    return Sweep(data, "kvstream stream-bench", ".", axes, None)


def row_of(record: dict) -> dict:
    """A :class:`RequestResult` row from a sweep record (``ttft_s`` None: not done within the cap)."""
    if record["status"] != "ok":
        raise RuntimeError(f"request {record['params']} failed: {record.get('message')}")
    p, m = record["params"], {k.split(".", 1)[1]: v for k, v in record["metrics"].items() if k.startswith("kvstream.")}
    from .app import OPTION_CODES

    coded = sorted((int(k.split(".", 1)[1]), int(v)) for k, v in m.items() if k.startswith("chunk_option."))
    options = [OPTION_CODES[c] if c >= 0 else "?" for _, c in coded]
    if "?" in options:  # an option outside the codes: fall back to the counts (order lost)
        options = [o for key, n in sorted(m.items()) if key.startswith("chunks.") for o in [key[7:]] * int(n)]
    ttft = m["ttft_ms"]
    return RequestResult(p["links.down.trace"].rsplit("/", 1)[-1], p["apps.0.start_s"], p["apps.0.policy"],
                         p["apps.0.target_s"], None if ttft != ttft else ttft / 1000, bool(m["miss"]),
                         None if m["quality"] != m["quality"] else m["quality"], m["sent_mb"], options,
                         bool(m["chunks_ok"]), m["est_mbps_final"]).row()


def run_sweep(profile: StreamProfile, paths: list[Topology], policies: tuple[str, ...] = POLICIES,
              targets_s: tuple[float, ...] = (20.0,), requests_per_trace: int = 20, seed: int = 0,
              cap_factor: float = 3.0, controller_kwargs: dict | None = None,
              progress: Callable[[], None] | None = None, jobs: int = 1) -> list[dict]:
    """Every (path, offset, target, policy) request in this process (or a pool); rows of :class:`RequestResult`."""
    from netkit.experiment.sweep import run_local

    sweep = sweep_of(profile, paths, policies, targets_s, requests_per_trace, seed, cap_factor, controller_kwargs)
    points = sweep.points()
    got: dict[str, dict] = {}

    def on_record(rec: dict) -> None:
        got[rec["run_id"]] = rec
        if progress is not None:
            progress()

    run_local(sweep, points, jobs, on_record)
    return [row_of(got[p.run_id]) for p in points]


def _pct(values: list[float], q: float) -> float:
    # empirical quantile (no interpolation): censored requests are +inf and must not turn into nan
    return float(np.percentile(np.asarray(values, dtype=float), q, method="inverted_cdf")) if values else float("nan")


def summarize(rows: list[dict]) -> dict:
    """Per (target, policy): requests, miss share, TTFT p50/p90 (censored = inf), mean quality, MB, option mix."""
    out: dict = {}
    for row in rows:
        key = f"{row['target_s']:g}"
        out.setdefault(key, {}).setdefault(row["policy"], []).append(row)
    summary: dict = {}
    for target, by_policy in out.items():
        summary[target] = {}
        for policy, rs in by_policy.items():
            ttft = [r["ttft_s"] if r["ttft_s"] is not None else float("inf") for r in rs]
            mix = Counter(o for r in rs for o in r["options"])
            total = sum(mix.values())
            per_trace = {}
            for r in rs:
                per_trace.setdefault(r["trace"], []).append(r["miss"])
            summary[target][policy] = {
                "requests": len(rs),
                "miss_share": float(np.mean([r["miss"] for r in rs])),
                "ttft_p50_s": _pct(ttft, 50), "ttft_p90_s": _pct(ttft, 90),
                "quality_mean": float(np.mean([r["quality"] for r in rs if r["quality"] is not None])),
                "mb_per_request": float(np.mean([r["mb_sent"] for r in rs])),
                "option_share": {o: n / total for o, n in sorted(mix.items())},
                "miss_share_by_trace": {t: float(np.mean(v)) for t, v in sorted(per_trace.items())},
                "all_chunks_ok": all(r["chunks_ok"] for r in rs if r["ttft_s"] is not None),
            }
    return summary


def _fmt_s(x: float) -> str:
    return "> cap" if not np.isfinite(x) else f"{x:.1f}"


def table_markdown(summary: dict) -> str:
    """Markdown tables: per policy (miss share, TTFT, quality, MB, option mix), then miss share per trace."""
    lines = []
    for target, by_policy in summary.items():
        lines += [f"TTFT target {target} s:", "",
                  "| policy | miss share | TTFT p50 (s) | TTFT p90 (s) | mean quality | MB / request | options sent |",
                  "|---|---|---|---|---|---|---|"]
        for policy, s in by_policy.items():
            mix = ", ".join(f"{o.replace('kvstream-', '')} {v:.0%}" for o, v in s["option_share"].items() if v >= 0.005)
            lines.append(f"| {policy} | {s['miss_share']:.1%} | {_fmt_s(s['ttft_p50_s'])} | "
                         f"{_fmt_s(s['ttft_p90_s'])} | {s['quality_mean']:.5f} | {s['mb_per_request']:.1f} | {mix} |")
        traces = sorted(next(iter(by_policy.values()))["miss_share_by_trace"])
        lines += ["", "| policy | " + " | ".join(traces) + " |", "|---|" + "---|" * len(traces)]
        for policy, s in by_policy.items():
            lines.append(f"| {policy} | " + " | ".join(f"{s['miss_share_by_trace'][t]:.0%}" for t in traces) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_results(rows: list[dict], target_s: float, cdf_path: Path, miss_path: Path,
                 policies: tuple[str, ...] | None = None) -> None:
    """TTFT CDF per policy (censored requests off the right edge) and miss-share bars per policy and trace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["target_s"] == target_s]
    policies = policies or tuple(dict.fromkeys(r["policy"] for r in rows))
    styles = {"kvstream": dict(color="C0", lw=2.5), "int8": dict(color="C1", lw=1.8),
              "fp16": dict(color="C3", lw=1.8), "text": dict(color="C2", lw=1.8)}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cap = 0.0
    for p in policies:
        v = np.sort([r["ttft_s"] if r["ttft_s"] is not None else np.inf for r in rows if r["policy"] == p])
        cap = max(cap, max((r["ttft_s"] or 0) for r in rows if r["policy"] == p))
        x = np.concatenate([[0.0], np.where(np.isfinite(v), v, 1e9)])
        y = np.arange(len(v) + 1) / len(v)
        level = int(p[-1]) if p.startswith("kvstream-L") else 0
        st = styles.get(p, dict(lw=0.9, ls="--", color=plt.cm.Greys(0.35 + 0.13 * level)))
        ax.step(x, y, where="post", label=p, **st)
    ax.axvline(target_s, color="k", ls=":", lw=1)
    ax.text(target_s, 0.02, f" target {target_s:g} s", fontsize=8)
    ax.set_xlim(0, min(3 * target_s, cap * 1.05 + 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time to first token (s)")
    ax.set_ylabel("share of requests")
    ax.set_title("TTFT over the LTE traces (simulator)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(cdf_path, dpi=110)
    plt.close(fig)

    traces = sorted({r["trace"] for r in rows})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / (len(traces) + 1)
    x = np.arange(len(policies))
    for k, t in enumerate(traces + ["all traces"]):
        vals = [np.mean([r["miss"] for r in rows if r["policy"] == p and (t == "all traces" or r["trace"] == t)])
                for p in policies]
        ax.bar(x + (k - len(traces) / 2) * width, vals, width, label=t.replace(".down", ""),
               color="k" if t == "all traces" else None, alpha=0.85)
    ax.set_xticks(x, [p.replace("kvstream-", "") for p in policies], rotation=0, fontsize=8)
    ax.set_ylabel(f"share missing the {target_s:g} s target")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    ax.set_title("TTFT target misses per policy and trace (simulator)")
    fig.tight_layout()
    fig.savefig(miss_path, dpi=110)
    plt.close(fig)


def write_report(out: Path, rows: list[dict], summary: dict, meta: dict, profile: StreamProfile) -> None:
    """results.json, profile.json, table.md and the two plots into ``out`` (already created)."""
    from netkit.experiment.output import write_json

    write_json(out / "results.json", {"meta": meta, "summary": summary, "requests": rows,
                                      "profile_summary": profile.summary_rows()})
    profile.save(out / "profile.json")
    (out / "table.md").write_text(table_markdown(summary))
    main_target = float(next(iter(summary)))
    plot_results(rows, main_target, out / "ttft_cdf.png", out / "miss.png")


def add_stream_bench_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the streaming sweep (``python -m ...streamsim`` and ``netkit kvstream stream-bench``)."""
    p.add_argument("--out", type=v.out_folder, required=True, help="results folder (replaced whole)")
    p.add_argument("--profile", type=v.in_file, help="profile JSON (from a previous run or benchmarks/kvstream_streaming.py); "
                                     "default: measure one now (minutes)")
    p.add_argument("--traces", default=str(DEFAULT_TRACE_DIR), help="folder of Mahimahi *.down/*.up traces")
    p.add_argument("--target-s", type=v.duration_arg, action="append", help="TTFT target, repeatable (default 20)")
    p.add_argument("--requests", type=v.arg_int(1, 100_000), default=20, help="requests per trace (seeded offsets)")
    p.add_argument("--policy", action="append", choices=POLICIES, help=f"repeatable (default: {' '.join(POLICIES)})")
    p.add_argument("--delay", "--delay-ms", type=v.delay_arg, default=20.0, dest="delay",
                   help="one-way delay in ms, each direction (default 20)")
    p.add_argument("--queue", default="droptail:packets=100", help="downlink queue (default droptail:packets=100)")
    p.add_argument("--seed", type=v.seed_arg, default=0)
    p.add_argument("--jobs", type=v.jobs_arg, default=1, help="parallel requests (default 1)")
    p.add_argument("--model", default="llama-3.1-8b-4l", choices=tuple(SERVING_MODELS), help="serving model when measuring a profile "
                                                             "(profile.SERVING_MODELS)")
    p.add_argument("--layers", type=v.arg_int(1, 1000), help="override the serving model's layer count")
    p.add_argument("--context-tokens", type=v.arg_int(1, 10_000_000), default=2048)
    p.add_argument("--force", action="store_true")


def load_profile_option(path: str) -> StreamProfile:
    """`--profile FILE` as a StreamProfile, or a one-line `UserError` naming the option."""
    from netkit.errors import UserError

    try:
        return StreamProfile.load(path)
    except ValueError as exc:
        raise UserError(str(exc), source="--profile") from None


def cmd_stream_bench(args: argparse.Namespace) -> int:
    """Run the sweep and write the report; prints the table."""
    from netkit.experiment.sweep import run_sweep as record_sweep

    from .profile import SERVING_MODELS, measure_profile

    if args.profile:
        profile = load_profile_option(args.profile)
    else:
        model = SERVING_MODELS[args.model]
        if args.layers:
            model = model.with_layers(args.layers)
        profile = measure_profile(model, context_tokens=args.context_tokens,
                                  progress=lambda s: print(f"profile: {s}", file=sys.stderr, flush=True))
    from netkit.cli_args import options_named
    from netkit.errors import UserError

    targets = tuple(args.target_s or [20.0])
    policies = tuple(args.policy or POLICIES)
    with options_named({"links.down.trace": "--traces", "links.up.trace": "--traces"}):
        try:
            paths = lte_paths(args.traces, args.delay, args.queue)
        except OSError as exc:
            raise UserError(str(exc), source="--traces") from None
    command = shlex.join(sys.argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kvstream-profile-") as tmp:
        prof_path = str(Path(tmp) / "profile.json")
        profile.save(prof_path)  # the sweep's runs read the profile by path (as on a cluster)
        sweep = sweep_of(prof_path, paths, policies, targets, args.requests, args.seed)

        def report(work: Path, _summary: dict) -> None:
            records = {json.loads(x)["run_id"]: json.loads(x) for x in (work / "runs.jsonl").read_text().splitlines()}
            rows = [row_of(records[p.run_id]) for p in sweep.points()]
            meta = {"command": command, "paths": [{"down": p.down.to_dict(), "up": p.up.to_dict()} for p in paths],
                    "policies": policies, "targets_s": targets, "requests_per_trace": args.requests,
                    "seed": args.seed, "wall_s": time.perf_counter() - t0, "profile_meta": profile.meta}
            holder["summary"] = summarize(rows)
            write_report(work, rows, holder["summary"], meta, profile)

        holder: dict = {}
        record_sweep(sweep, args.out, jobs=args.jobs, force=args.force, command=command, after=report)
    print(table_markdown(holder["summary"]))
    print(f"wrote {args.out}/results.json, table.md, ttft_cdf.png, miss.png (and the sweep record)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m netkit.apps.kvstream.streamsim --out DIR [--profile P.json] ...``."""
    p = v.OneLineParser(prog="python -m netkit.apps.kvstream.streamsim", description=__doc__.splitlines()[0])
    add_stream_bench_arguments(p)
    return cmd_stream_bench(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Run an experiment live: the same apps and endpoints as the simulator, on the live harness (`netkit.emu`)."""
from __future__ import annotations

import asyncio
import time

from netkit.experiment.runner import Completion, Progress, RunResult, build_apps, bottleneck_trace, finish
from netkit.experiment.spec import Experiment

LEAD_US = 200_000  # the first flow starts this long after every link is up


def run_emu(exp: Experiment, log_dir: str | None = None, command: str = "netkit run --mode emu",
            progress: Progress | None = None, realtime: bool = True) -> RunResult:
    """Run `exp` over real namespaces and links for `duration_s` (or until its apps are done).

    Flows start at the same point of the traces as in the simulator: once the links are up, their
    common epoch is set so that the earliest flow's start time is `LEAD_US` from then.
    """
    from netkit.emu.driver import run as run_precise
    from netkit.emu.harness import LiveFlow, LiveNetwork, attribute_drops, run_flows

    built = build_apps(exp)
    flows = [LiveFlow(f.server, f.client, b.entry.server, b.entry.client, f.label, f.start_us)
             for b in built for f in b.flows]
    first = min((f.start_us for f in flows), default=0)
    t0 = time.perf_counter()
    own_nodes = [b.app for b in built if hasattr(b.app, "start_live")]   # apps that place their own node (sfu)
    net = LiveNetwork(exp.topology, exp.seed, log_dir, command, realtime=realtime, first_us=first, lead_us=LEAD_US,
                      queue_window_us=(exp.warmup_us, exp.duration_us), hold_clock=bool(own_nodes))

    async def main():
        for app in own_nodes:
            app.go_live()
        stop = asyncio.Event()
        Completion(built, on_finished=stop.set)
        runs = await run_flows(net, flows, exp.duration_us, stop, progress)
        return runs, min(net.clock.now(), exp.duration_us)

    with net:
        for app in own_nodes:
            app.start_live(net)
        if own_nodes:
            net.start_clock()
        try:
            runs, end_us = run_precise(main(), realtime=realtime)
        except BaseException:
            for app in own_nodes:
                app.stop_live(failed=True)
            raise
        for app in own_nodes:
            app.stop_live(failed=False)
    attribute_drops(net, runs)
    i = 0
    for b in built:
        for _ in b.flows:
            b.ctx.records.append(runs[i].record)
            i += 1
    return finish(exp, built, end_us, time.perf_counter() - t0, net.queue_summaries(), bottleneck_trace(exp),
                  link_stats=net.stats)

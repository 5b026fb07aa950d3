"""WebRTC demo with aiortc: GRACE video over an unordered, no-retransmission RTCDataChannel across a lossy live link.

The path is a live netkit link (`netkit.emu.harness.LiveNetwork`, the one the
experiment layer's `--mode emu` builds from the same description): the server's
RTCPeerConnection gathers its ICE candidates inside the outer namespace, the
client's inside the inner one, so ICE, DTLS and SCTP all cross the real-time
TUN link with its trace, delay and Bernoulli / Gilbert-Elliott loss (the handshake
too: aioice, DTLS and SCTP retransmit their own set-up messages).

The channel is `ordered=False, maxRetransmits=0` (PR-SCTP: a lost message is
never resent, messages are handed up as they arrive). On it run the `grace` app's
sans-I/O endpoints unchanged (`netkit.apps.grace.app`): each GRACE packet is one
message, the receiver's arrival masks go back on the same channel. SCTP bundles
small messages into one packet, so one lost SCTP packet can take several of a
frame's GRACE packets: GRACE decodes whatever subset arrives.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["webrtc_experiment", "stream_over_webrtc", "write_frames_png"]


def webrtc_experiment(video: str = "carphone_pristine.mp4", frames: int = 50, width: int = 64, height: int = 48,
                      loss: float = 0.2, loss_model: str = "bernoulli", loss_burst: float = 3.0, delay_ms: float = 30.0,
                      trace: str = "constant:10", seed: int = 0, model: str | None = None,
                      scheme: str = "grace") -> dict[str, Any]:
    """The experiment table (a path, the grace app) the demo runs: its links build the live network."""
    down = {"trace": trace, "delay_ms": delay_ms, "loss": loss, "loss_model": loss_model, "log": False}
    if loss_model == "ge":
        down["loss_burst"] = loss_burst
    app = {"module": "grace", "scheme": scheme, "video": video, "frames": frames, "width": width, "height": height}
    if model:
        app["model"] = model
    return {"name": "grace-webrtc", "seed": seed, "mode": "emu", "duration_s": frames / 10 + 30,
            "links": {"down": down, "up": {"delay_ms": delay_ms}}, "apps": [app]}


async def _connect(server, client, s_ns: str, c_ns: str):
    """Offer/answer with each peer gathering its candidates in its own namespace; the two channel ends."""
    from netkit.emu import netns

    loop = asyncio.get_running_loop()
    channel = server.createDataChannel("grace", ordered=False, maxRetransmits=0)
    opened = loop.create_future()
    channel.on("open", lambda: opened.done() or opened.set_result(True))
    remote = loop.create_future()
    client.on("datachannel", lambda ch: remote.done() or remote.set_result(ch))
    # sockets belong to the namespace they are created in (the with-block spans only this peer's gathering)
    with netns.enter(s_ns):
        await server.setLocalDescription(await server.createOffer())
    await client.setRemoteDescription(server.localDescription)
    with netns.enter(c_ns):
        await client.setLocalDescription(await client.createAnswer())
    await server.setRemoteDescription(client.localDescription)
    await asyncio.wait_for(opened, 30)
    return channel, await asyncio.wait_for(remote, 30)


async def _run(net, app, flow, timeout_s: float) -> dict[str, Any]:
    from aiortc import RTCConfiguration, RTCPeerConnection

    from netkit.emu.clock import Clock
    from netkit.emu.driver import MessageEndpointDriver

    s_ns, _ = net.address("server", "client")
    c_ns, _ = net.address("client", "server")
    server = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    loop = asyncio.get_running_loop()
    try:
        t0 = loop.time()
        channel, client_channel = await _connect(server, client, s_ns, c_ns)
        setup_s = loop.time() - t0
        pair = server.sctp.transport.transport.iceGatherer.getLocalCandidates()
        done = asyncio.Event()
        app.ctx.on("done", lambda ctx, now_us=None: done.set())
        clock = Clock()   # the stream's time 0: the channel is open (the app's frames start at 0)
        s_drv = MessageEndpointDriver(flow.server, channel.send, clock)
        c_drv = MessageEndpointDriver(flow.client, client_channel.send, clock)
        channel.on("message", s_drv.receive)
        client_channel.on("message", c_drv.receive)
        c_drv.start()
        s_drv.start()
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        s_drv.stop()
        c_drv.stop()
        app.ctx.end_us = clock.now()
        return {"setup_s": setup_s, "server_candidates": [c.ip for c in pair],
                "messages_sent": s_drv.datagrams_sent, "messages_received": c_drv.datagrams_received,
                "feedback_sent": c_drv.datagrams_sent, "feedback_received": s_drv.datagrams_received,
                "timed_out": not done.is_set()}
    finally:
        await server.close()
        await client.close()


def stream_over_webrtc(table: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    """Run the demo (root, TUN): the app's metrics, the channel's counters and the live link's drops.

    Returns a dict with `metrics` (the app's flat metrics), `channel`, `link` (downlink packets in and
    dropped) and `app` (the finished GraceApp, for its frames)."""
    from netkit.emu.driver import run as run_precise
    from netkit.emu.harness import LiveNetwork
    from netkit.experiment.runner import build_apps
    from netkit.experiment.spec import parse_experiment

    exp = parse_experiment(table, "netkit grace webrtc")
    (built,) = build_apps(exp)
    (flow,) = built.flows
    with LiveNetwork(exp.topology, exp.seed) as net:
        channel = run_precise(_run(net, built.app, flow, timeout_s), realtime=True)
    down = (net.stats.get("link") or {}).get("downlink") or {}
    return {"metrics": built.app.metrics(), "channel": channel, "app": built.app,
            "link": {k: down.get(k) for k in ("packets_in", "bytes_in", "dropped")}}


def write_frames_png(path: str | Path, app, picks: int = 6) -> list[int]:
    """Original frames (top) and what the viewer saw for them over the channel (bottom), side by side."""
    from PIL import Image, ImageDraw

    res = app.stream_result()
    orig = app.frames
    n = len(orig)
    ts = sorted({int(round(x)) for x in np.linspace(n // 8, n - 1, picks)})
    shown, last = [], np.zeros_like(orig[0])
    for img in res.images:
        last = img if img is not None else last
        shown.append(last)
    h, w = orig[0].shape[:2]
    s, label = (3 if w <= 64 else 2), 14
    canvas = Image.new("RGB", (w * s * len(ts), 2 * (h * s + label)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, t in enumerate(ts):
        d = app.receiver.decoded.get(t)
        got = f"{bin(d.mask).count('1')}/{app.p['packets']} pkts" if d is not None else "lost"
        for r, (img, text) in enumerate(((orig[t], f"original #{t}"), (shown[t], f"received #{t} {got}"))):
            y = r * (h * s + label)
            canvas.paste(Image.fromarray(img).resize((w * s, h * s), Image.NEAREST), (c * w * s, y + label))
            draw.text((c * w * s + 2, y + 1), text, fill="black")
    canvas.save(path)
    return ts

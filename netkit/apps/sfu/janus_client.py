"""A Janus VideoRoom participant on aiortc, in its own process (`python -m netkit.apps.sfu.janus_client SPEC OUT`),
started by `netkit.apps.sfu.janus`: it enters its host's namespace, publishes one VP8 stream into its
meeting's room and subscribes to every other participant's feed (one subscriber PeerConnection per
feed), over ICE, DTLS-SRTP and Janus's HTTP API (long polling for events).

Video: aiortc encodes (its own libvpx VP8 encoder; it makes no temporal layers) frames drawn like the P4
clients' clip (`netkit/apps/sfu/media.py`: a gradient and a panning fixed-seed texture, 160x120, 30 fps)
with the capture time stamped into the picture: the top 16 rows carry 40 8x8 luma blocks, dark or bright,
the 32-bit capture time in µs on the links' clock (CLOCK_MONOTONIC, shared by every namespace) and an
8-bit check. A receiver reads the stamp back from each decoded frame (`track.recv()`): frame delay is
its arrival on the same clock minus the stamp, so it covers encode, uplink, Janus, downlink, jitter
buffer and decode, as the P4 clients' delay covers reassembly and decode. Received fps and freezes use
the same `RemoteStream` bookkeeping as those clients. Each receiver also records the RTP sequence
numbers that reach it (RTX unwrapped), for the gap count.

SPEC: `{"name", "feed", "room", "netns", "janus" (base URL), "peers" ({feed: name}), "start_us", "end_us",
"realtime"}`. The process prints `ready`, reads `epoch NS` from stdin, runs until `end_us` (or SIGTERM),
and writes OUT (JSON, atomically).
"""
from __future__ import annotations

import asyncio
import fractions
import json
import random
import re
import signal
import sys
import threading
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 160, 120, 30
STAMP_BITS, BLOCK = 40, 8                     # 32-bit time + 8-bit check, 8x8 blocks in two rows of 20
DARK, BRIGHT = 40, 215


def _check(value: int) -> int:
    return (sum(value.to_bytes(4, "big")) ^ 0xA5) & 0xFF


def draw_frame(i: int, capture_us: int, texture: np.ndarray) -> np.ndarray:
    """Luma of frame i (as media.py draws the clip) with `capture_us` stamped into its top rows."""
    cols = np.arange(WIDTH)[None, :]
    rows = np.arange(HEIGHT)[:, None]
    luma = ((cols * 2 + rows + i * 4) % 256).astype(np.uint8)
    luma[:, WIDTH // 2:] = texture[:, i * 4 % WIDTH: i * 4 % WIDTH + WIDTH - WIDTH // 2]
    value = capture_us & 0xFFFFFFFF
    word = (value << 8) | _check(value)
    per_row = WIDTH // BLOCK
    for b in range(STAMP_BITS):
        y, x = (b // per_row) * BLOCK, (b % per_row) * BLOCK
        luma[y:y + BLOCK, x:x + BLOCK] = BRIGHT if (word >> (STAMP_BITS - 1 - b)) & 1 else DARK
    return luma


def read_stamp(luma: np.ndarray) -> int | None:
    """The capture time stamped into a decoded frame's luma, or None if its check fails."""
    per_row = luma.shape[1] // BLOCK
    if per_row * 2 < STAMP_BITS or luma.shape[0] < 2 * BLOCK:
        return None
    word = 0
    for b in range(STAMP_BITS):
        y, x = (b // per_row) * BLOCK, (b % per_row) * BLOCK
        word = (word << 1) | int(luma[y + 2:y + BLOCK - 2, x + 2:x + BLOCK - 2].mean() > 128)
    value = word >> 8
    return value if _check(value) == word & 0xFF else None


def unwrap_stamp(stamp: int, now_us: int) -> int:
    """The capture time (µs) nearest before `now_us` whose low 32 bits are `stamp`."""
    base = now_us - ((now_us - stamp) & 0xFFFFFFFF)
    return base


def _in_thread(fn, *args):
    """Run a blocking call in a daemon thread (a long poll must not hold up the process's exit); a future."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as e:      # handed to the awaiting coroutine
            result, exc = None, e
        try:
            loop.call_soon_threadsafe(_settle, fut, result, exc)
        except RuntimeError:
            pass                        # the loop is closed: nobody waits any more
    threading.Thread(target=work, daemon=True, name="janus-http").start()
    return fut


def _settle(fut, result, exc) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class JanusApi:
    """Janus's HTTP API for one session: requests in threads, events by long polling, per handle."""

    def __init__(self, base: str):
        self.base = base
        self.session: int | None = None
        self.queues: dict[int, asyncio.Queue] = {}
        self._poller: asyncio.Task | None = None
        self._closing = False

    async def _post(self, path: str, body: dict, timeout: float = 10.0) -> dict:
        from netkit.apps.sfu.janus_server import http_post

        body = {**body, "transaction": f"{random.getrandbits(48):x}"}
        reply = await _in_thread(http_post, self.base + path, body, timeout)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus {body.get('janus')}: {reply.get('error')}")
        return reply

    async def create(self) -> None:
        """Create the session and start polling its events."""
        self.session = (await self._post("", {"janus": "create"}))["data"]["id"]
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def attach(self) -> int:
        """A new VideoRoom handle."""
        reply = await self._post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        h = reply["data"]["id"]
        self.queues[h] = asyncio.Queue()
        return h

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """A plugin message; the synchronous reply (`success` with plugindata, or `ack` for async requests)."""
        msg = {"janus": "message", "body": body, **({"jsep": jsep} if jsep else {})}
        reply = await self._post(f"/{self.session}/{handle}", msg)
        data = (reply.get("plugindata") or {}).get("data") or {}
        if data.get("videoroom") == "event" and data.get("error"):
            raise RuntimeError(f"videoroom {body.get('request')}: {data['error']}")
        return reply

    async def event(self, handle: int, timeout: float = 20.0) -> dict:
        """The next event for a handle."""
        return await asyncio.wait_for(self.queues[handle].get(), timeout)

    async def _poll(self) -> None:
        from netkit.apps.sfu.janus_server import http_get

        while not self._closing:
            try:
                evs = await _in_thread(http_get, f"{self.base}/{self.session}?maxev=10", 35.0)
            except OSError:
                if self._closing:
                    return
                await asyncio.sleep(0.1)
                continue
            for ev in evs if isinstance(evs, list) else [evs]:
                q = self.queues.get(ev.get("sender"))
                if q is not None and ev.get("janus") in ("event", "webrtcup", "media", "hangup", "slowlink"):
                    q.put_nowait(ev)

    async def close(self) -> None:
        """Destroy the session (best effort) and stop polling."""
        self._closing = True
        if self.session is not None:
            try:
                await self._post(f"/{self.session}", {"janus": "destroy"}, timeout=2.0)
            except (OSError, RuntimeError):
                pass
        if self._poller is not None:
            self._poller.cancel()


def _stamped_track(clock, start_us: int):
    from aiortc import VideoStreamTrack
    import av

    texture = np.random.default_rng(0).integers(0, 256, (HEIGHT, 2 * WIDTH), dtype=np.uint8)   # media.py's seed
    chroma_v = np.full((HEIGHT // 2, WIDTH // 2), 128, np.uint8).tobytes()

    class StampedTrack(VideoStreamTrack):
        """30 fps frames on the links' clock, each stamped with its capture time."""

        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        async def recv(self):
            due = start_us + self.n * 1_000_000 // FPS
            wait = (due - clock.now()) / 1e6
            if wait > 0:
                await asyncio.sleep(wait)
            now = clock.now()
            f = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            f.planes[0].update(draw_frame(self.n, now, texture).tobytes())
            f.planes[1].update(np.full((HEIGHT // 2, WIDTH // 2), (self.n * 3) % 256, np.uint8).tobytes())
            f.planes[2].update(chroma_v)
            f.pts = self.n * (90_000 // FPS)
            f.time_base = fractions.Fraction(1, 90_000)
            self.n += 1
            return f

    return StampedTrack()


def _luma(frame) -> np.ndarray:
    plane = frame.planes[0]
    arr = np.frombuffer(bytes(plane), np.uint8).reshape(plane.height, plane.line_size)
    return arr[:, :plane.width]


class Participant:
    """One participant: publisher PeerConnection, one subscriber PeerConnection per other feed."""

    def __init__(self, spec: dict, clock):
        from netkit.apps.sfu.client import RemoteStream

        self.spec, self.clock = spec, clock
        self.api = JanusApi(spec["janus"])
        self.pcs: list = []            # RTCPeerConnections
        self.remote = {int(f): RemoteStream(int(f)) for f in spec["peers"]}
        self.seqs: dict[int, set[int]] = {int(f): set() for f in spec["peers"]}
        self.out_ssrc: dict[int, int] = {}
        self.publisher_ssrc: int | None = None
        self.events: dict[str, int] = {}
        self.errors: list[str] = []
        self.stamp_failures = 0
        self._tasks: list[asyncio.Task] = []          # frame consumers
        self._subscriptions: list[asyncio.Task] = []

    def _mark(self, what: str) -> None:
        self.events.setdefault(what, self.clock.now())

    async def run(self) -> None:
        """Publish, then subscribe to every peer once it publishes."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        cfg = RTCConfiguration(iceServers=[])          # no STUN: nothing outside our namespaces
        room = self.spec["room"]
        await self.api.create()
        pub = await self.api.attach()
        pc = RTCPeerConnection(cfg)
        self.pcs.append(pc)
        self._watch(pc, "publisher")
        sender = pc.addTrack(_stamped_track(self.clock, self.spec["start_us"]))
        await pc.setLocalDescription(await pc.createOffer())
        await self.api.message(pub, {"request": "joinandconfigure", "room": room, "ptype": "publisher",
                                     "id": self.spec["feed"], "display": self.spec["name"]},
                               {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False})
        ev = await self._jsep_event(pub)
        await pc.setRemoteDescription(RTCSessionDescription(ev["jsep"]["sdp"], "answer"))
        self.publisher_ssrc = sender._ssrc
        self._mark("published_us")
        pending = set(self.remote)
        while pending:           # wait for the others to publish (listparticipants is synchronous)
            reply = await self.api.message(pub, {"request": "listparticipants", "room": room})

            present = {p["id"] for p in reply["plugindata"]["data"].get("participants", []) if p.get("publisher")}
            ready = pending & present
            for feed in ready:
                self._subscriptions.append(asyncio.get_running_loop().create_task(self._subscribe(feed, cfg)))
            pending -= ready
            if pending:
                await asyncio.sleep(0.1)
        await asyncio.gather(*self._subscriptions)
        self._mark("subscribed_us")

    def _watch(self, pc, what: str) -> None:
        @pc.on("connectionstatechange")
        def changed() -> None:
            self._mark(f"{what}_{pc.connectionState}_us")

    async def _jsep_event(self, handle: int) -> dict:
        while True:
            ev = await self.api.event(handle)
            data = (ev.get("plugindata") or {}).get("data") or {}
            if data.get("error"):
                raise RuntimeError(f"videoroom: {data['error']}")
            if ev.get("jsep"):
                return ev

    async def _subscribe(self, feed: int, cfg) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        h = await self.api.attach()
        await self.api.message(h, {"request": "join", "room": self.spec["room"], "ptype": "subscriber",
                                   "streams": [{"feed": feed}]})
        offer = (await self._jsep_event(h))["jsep"]["sdp"]
        pc = RTCPeerConnection(cfg)
        self.pcs.append(pc)
        self._watch(pc, "subscriber")

        @pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._consume(feed, track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        vp8 = {int(m) for m in re.findall(r"a=rtpmap:(\d+) VP8/90000", offer)}
        ssrcs = re.findall(r"a=ssrc:(\d+) ", offer)
        if ssrcs:
            self.out_ssrc[feed] = int(ssrcs[0])
        for t in pc.getTransceivers():
            self._record_seqs(t.receiver, feed, vp8)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.api.message(h, {"request": "start", "room": self.spec["room"]},
                               {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False})

    def _record_seqs(self, receiver, feed: int, vp8_pts: set[int]) -> None:
        inner = receiver._handle_rtp_packet
        seqs = self.seqs[feed]

        async def handle(packet, arrival_time_ms: int) -> None:
            if packet.payload_type in vp8_pts:
                seqs.add(packet.sequence_number)
            elif len(packet.payload) >= 2:               # RTX (RFC 4588): the original number leads
                seqs.add(int.from_bytes(packet.payload[:2], "big"))
            await inner(packet, arrival_time_ms)
        receiver._handle_rtp_packet = handle

    async def _consume(self, feed: int, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        st = self.remote[feed]
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = self.clock.now()
            self._mark("first_frame_us")
            st.decoded_us.append(now)
            stamp = read_stamp(_luma(frame))
            if stamp is None:
                self.stamp_failures += 1
                continue
            st.frame_delay_ms.append((now - unwrap_stamp(stamp, now)) / 1000)
            st.frame_delay_at_us.append(now)

    async def close(self) -> None:
        """Close every PeerConnection and the Janus session."""
        for t in self._tasks + self._subscriptions:
            t.cancel()
        for pc in self.pcs:
            try:
                await asyncio.wait_for(pc.close(), 3)
            except (asyncio.TimeoutError, Exception):       # closing must not stop the results being written
                pass
        await self.api.close()

    def result(self) -> dict:
        """What the parent needs (JSON-able)."""
        return {"name": self.spec["name"], "feed": self.spec["feed"], "publisher_ssrc": self.publisher_ssrc,
                "events": self.events, "errors": self.errors, "stamp_failures": self.stamp_failures,
                "remote": {str(f): {"decoded_us": st.decoded_us, "frame_delay_ms": st.frame_delay_ms,
                                    "frame_delay_at_us": st.frame_delay_at_us,
                                    "seqs": sorted(self.seqs[f]), "out_ssrc": self.out_ssrc.get(f)}
                           for f, st in self.remote.items()}}


def main(argv: list[str] | None = None) -> int:
    """Run one participant of SPEC; write OUT."""
    spec_path, out_path = (argv or sys.argv[1:])[:2]
    spec = json.loads(Path(spec_path).read_text())
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles Ctrl-C and stops us with SIGTERM
    from netkit.emu import netns
    from netkit.emu.clock import Clock
    from netkit.emu.driver import run
    from netkit.files import atomic_write_text

    import aiortc  # noqa: F401  (imported before `ready`: the import takes a second)

    with netns.enter(spec["netns"]):      # this thread, and the threads aiortc starts, live in the host
        print("ready", flush=True)
        line = sys.stdin.readline()
        if not line.startswith("epoch "):
            return 0
        clock = Clock(int(line.split()[1]))
        part = Participant(spec, clock)

        async def go() -> None:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            await asyncio.sleep(max(0.0, clock.to_loop_time(spec["start_us"]) - loop.time()))
            task = loop.create_task(part.run())
            end = max(0.0, clock.to_loop_time(spec["end_us"]) - loop.time())
            stopper = loop.create_task(stop.wait())
            await asyncio.wait([stopper], timeout=end)
            if task.done() and task.exception() is not None:
                exc = task.exception()
                part.errors.append(f"{type(exc).__name__}: {exc}")
            elif not task.done():
                task.cancel()
                part.errors.append("set-up had not finished by the end of the run")
            stopper.cancel()
            await part.close()

        run(go(), realtime=spec.get("realtime", True))
    atomic_write_text(out_path, json.dumps(part.result()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

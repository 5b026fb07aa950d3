"""The real-time loop: steps two element chains between device file descriptors on a monotonic µs clock.

Each `Direction` reads packets from one device, hands them to its chain with
the arrival time, and writes what the chain releases to the other device. The
loop sleeps in `select()` (microsecond timeouts, unlike epoll's milliseconds)
until the earliest `next_time()` of the chains or until a device is readable.

TUN devices carry bare IP packets. TAP devices (`l2=14`) carry Ethernet frames:
only IPv4/IPv6 frames go through the chain, sized by their IP length as mm-link
counts them; ARP and other frames cross at once.
"""
from __future__ import annotations

import os
import select
import time
from collections import Counter
from typing import Callable

from netkit.emu.ipheader import flow_key, set_ecn
from netkit.link.packet import Packet
from netkit.link.tracelink import PacketTooLarge

_ETH_IP = (b"\x08\x00", b"\x86\xdd")
HIST_US = 200_000  # timing errors above 200 ms land in the last bin


class TimingHistogram:
    """Counts of (write time - scheduled release time) in 1 µs bins."""

    def __init__(self) -> None:
        self.bins = [0] * (HIST_US + 1)
        self.count = 0
        self.max_us = 0

    def add(self, err_us: int) -> None:
        """Record one packet's timing error (µs, >= 0)."""
        if err_us > HIST_US:
            self.bins[HIST_US] += 1
        else:
            self.bins[err_us if err_us > 0 else 0] += 1
        if err_us > self.max_us:
            self.max_us = err_us
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The q-th percentile in µs (None when empty)."""
        if not self.count:
            return None
        rank = q / 100 * (self.count - 1)
        seen = 0
        for us, n in enumerate(self.bins):
            seen += n
            if seen > rank:
                return float(us)
        return float(HIST_US)

    def summary(self) -> dict:
        """p50/p90/p99/max in µs and the sample count."""
        return {"count": self.count, "p50_us": self.percentile(50), "p90_us": self.percentile(90),
                "p99_us": self.percentile(99), "max_us": self.max_us}


class Direction:
    """One way through the link: `src` fd -> element chain -> `dst` fd."""

    def __init__(self, name: str, src: int, dst: int, element, clock: Callable[[], int], l2: int = 0,
                 batch: int = 32) -> None:
        self.name = name
        self.src = src
        self.dst = dst
        self.element = element
        self.clock = clock
        self.l2 = l2
        self.batch = batch
        self.timing = TimingHistogram()
        self.packets_in = self.packets_out = self.bytes_in = self.bytes_out = 0
        self.bypassed = self.too_large = self.write_errors = self.ce_marked = 0
        self.drops: Counter[str] = Counter()
        self.error: str | None = None  # why reading stopped for good (the device went away)
        self._uid = 0
        if hasattr(element, "on_drop"):
            element.on_drop = self._on_drop

    def _on_drop(self, pkt: Packet, t: int) -> None:
        self.drops[flow_key(pkt.raw, self.l2)] += 1

    def read_batch(self) -> bool:
        """Read up to `batch` packets (until the device is empty) and enqueue them at their arrival time.

        Returns False when the device is gone for good (then `error` says why).
        """
        src, l2, clock, enqueue = self.src, self.l2, self.clock, self.element.enqueue
        for _ in range(self.batch):
            try:
                raw = os.read(src, 65536)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                self.error = f"reading the {self.name} device failed: {exc}"
                return False
            if not raw:
                self.error = f"the {self.name} device was closed"
                return False
            if l2:
                if raw[12:14] not in _ETH_IP:
                    self._write(raw)
                    self.bypassed += 1
                    continue
                size = len(raw) - l2
                b0 = raw[l2]
            else:
                size = len(raw)
                b0 = raw[0]
            ecn = raw[l2 + 1] & 3 if b0 < 0x60 else (raw[l2 + 1] >> 4) & 3
            now = clock()
            self._uid += 1
            pkt = Packet(size, b"", 0, ecn, now, self._uid, raw)
            self.packets_in += 1
            self.bytes_in += size
            try:
                enqueue(pkt, now)
            except PacketTooLarge:
                self.too_large += 1
        return True

    def release(self, now: int) -> None:
        """Write every packet the chain releases at or before `now`, recording its timing error."""
        released = self.element.dequeue(now)
        if not released:
            return
        l2, clock, timing, write = self.l2, self.clock, self.timing, self._write
        for t, pkt in released:
            raw = pkt.raw
            b0 = raw[l2]
            cur = raw[l2 + 1] & 3 if b0 < 0x60 else (raw[l2 + 1] >> 4) & 3
            if pkt.ecn != cur:
                raw = set_ecn(raw, pkt.ecn, l2)
                if pkt.ecn == 3:
                    self.ce_marked += 1
            timing.add(clock() - t)
            write(raw)
            self.packets_out += 1
            self.bytes_out += pkt.size

    def _write(self, raw: bytes) -> None:
        try:
            os.write(self.dst, raw)
        except OSError:
            # the kernel refused it (device down or gone, or its queue full): the packet is lost, as on a wire
            self.write_errors += 1

    def stats(self) -> dict:
        """Counters, timing error percentiles, drops per flow, and the queue's own statistics if it keeps any."""
        out = {
            "packets_in": self.packets_in, "packets_out": self.packets_out, "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "dropped": sum(self.drops.values()), "drops_by_flow": dict(self.drops),
            "bypassed": self.bypassed, "too_large": self.too_large, "write_errors": self.write_errors,
            "ce_marked": self.ce_marked, "timing": self.timing.summary(),
        }
        if self.error:
            out["error"] = self.error
        out["next_release_us"] = self.element.next_time()
        out["held_packets"] = self.packets_in - self.packets_out - out["dropped"] - self.too_large
        for el in getattr(self.element, "elements", []):
            queue = getattr(el, "queue", None)
            if queue is not None and callable(getattr(queue, "stats", None)):
                out["queue_stats"] = queue.stats()
        return out


def monotonic_clock(epoch_ns: int) -> Callable[[], int]:
    """A function returning integer µs since `epoch_ns` on CLOCK_MONOTONIC (shared by all namespaces)."""
    ns = time.monotonic_ns

    def clock() -> int:
        return (ns() - epoch_ns) // 1000

    return clock


class LinkLoop:
    """Runs directions until `stop()`, or until one of `stop_fds` is readable (a signal's wakeup pipe, or EOF
    on a lifeline pipe whose writer died)."""

    def __init__(self, directions: list[Direction], clock: Callable[[], int], stop_fds: tuple[int, ...] = ()) -> None:
        self.directions = directions
        self.clock = clock
        self.stop_fds = tuple(stop_fds)
        self.stopped = False
        self.stop_reason: str | None = None

    def stop(self, reason: str = "stop()") -> None:
        """Ask the loop to return after its current iteration."""
        self.stopped = True
        self.stop_reason = self.stop_reason or reason

    def run(self, until_us: int | None = None) -> None:
        """Forward packets in real time (until `until_us` on the clock, if given)."""
        dirs = list(self.directions)
        by_fd = {d.src: d for d in dirs}
        rfds = list(by_fd) + list(self.stop_fds)
        clock = self.clock
        sel = select.select
        while not self.stopped:
            now = clock()
            if until_us is not None and now >= until_us:
                return
            wake = until_us
            dirs.reverse()  # alternate which direction writes first when both are due at the same instant
            for d in dirs:
                t = d.element.next_time()
                if t is not None and t <= now:
                    d.release(now)
                    t = d.element.next_time()
                    if t is not None and t <= now:
                        t = now + 50  # an element promised more than it gave; look again shortly, never spin
                if t is not None and (wake is None or t < wake):
                    wake = t
            timeout = None if wake is None else max(wake - clock(), 0) / 1e6
            ready, _, _ = sel(rfds, (), (), timeout)
            for fd in ready:
                d = by_fd.get(fd)
                if d is None:
                    self.stop(f"fd {fd} readable")  # asked to stop, or the owner is gone
                elif not d.read_batch():
                    self.stop(d.error or "device error")  # a device vanished: never spin on it

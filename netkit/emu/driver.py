"""The precise driver: run any sans-I/O endpoint on asyncio (over a UDP socket in a namespace, or any message
transport such as a WebRTC data channel), and open kernel TCP sockets in a namespace.

`run()` runs a coroutine on a `precise_loop()` (µs timers, timer slack cut, optionally
SCHED_FIFO). `EndpointDriver` is the live counterpart of the simulator's `Host`: after every
arrival and timer it asks the endpoint for datagrams and re-arms the endpoint's
timer on the event loop. Each datagram leaves with its own ECN codepoint (an
IP_TOS control message on `sendmsg`), and arriving datagrams report theirs
(IP_RECVTOS ancillary data on `recvmsg`), so ECN-aware transports such as
Prague see real CE marks.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import selectors
import socket
import struct
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Coroutine, Iterator

from netkit.emu import netns
from netkit.emu.clock import Clock
from netkit.emu.errors import NameTaken
from netkit.transport.base import Endpoint

IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
SOCKET_BUFFER = 4 << 20
_TOS_CMSG = socket.CMSG_SPACE(4)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TS_CMSG = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")
_INT = struct.Struct("i")

DatagramHook = Callable[[bytes, int, int], None]
PR_SET_TIMERSLACK = 29
PR_GET_TIMERSLACK = 30
DRIVER_RT_PRIORITY = 10


def precise_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers fire within tens of µs: `select()` takes µs timeouts (epoll and poll
    round up to whole milliseconds, which makes paced senders clump packets)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


@contextmanager
def realtime_thread(on: bool = True) -> Iterator[None]:
    """SCHED_FIFO at the driver's priority for this thread while the block runs (threads it starts inherit
    it); the previous policy is restored afterwards. Without the privilege nothing changes."""
    previous = None
    if on:
        try:
            previous = (os.sched_getscheduler(0), os.sched_getparam(0))
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(DRIVER_RT_PRIORITY))
        except (OSError, AttributeError):
            previous = None
    try:
        yield
    finally:
        if previous is not None:
            os.sched_setscheduler(0, *previous)


def run(main: Coroutine[Any, Any, Any], realtime: bool = False) -> Any:
    """`asyncio.run(main)` on a `precise_loop()`, with this thread's timer slack cut to 1 µs meanwhile.

    With `realtime`, the thread runs under SCHED_FIFO (priority 10, below the link
    process's 20) while the loop runs, so endpoints keep their timing when other
    programs load every core; its previous policy is restored afterwards. Without
    the privilege the thread simply keeps its policy.
    """
    libc, slack = None, 0
    try:  # from the first line: a signal while libc loads must still close `main`
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        slack = libc.prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)
        libc.prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
        with realtime_thread(realtime), asyncio.Runner(loop_factory=precise_loop) as runner:
            return runner.run(main)
    finally:
        main.close()  # a signal before the loop started it: no "never awaited" warning (no-op once it ran)
        if libc is not None and slack > 0:
            libc.prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0)


def udp_socket(ns: str | None = None, addr: str = "0.0.0.0", port: int = 0,
               buffer: int = SOCKET_BUFFER) -> socket.socket:
    """A non-blocking UDP socket in namespace `ns`, bound to addr:port, reporting the TOS byte of arrivals."""
    with netns.enter(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _bind(sock, ns, addr, port, "UDP", [(socket.IPPROTO_IP, IP_RECVTOS, 1), (socket.SOL_SOCKET, socket.SO_RCVBUF, buffer),
                                         (socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)])
    sock.setblocking(False)
    return sock


def _bind(sock: socket.socket, ns: str | None, addr: str, port: int, kind: str,
          options: list[tuple[int, int, int]]) -> None:
    """Set `options` ((level, name, value) each) on `sock` and bind it to addr:port; on failure close it, and raise
    NameTaken if the port is in use in namespace `ns`."""
    try:
        for level, name, value in options:
            sock.setsockopt(level, name, value)
        sock.bind((addr, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise NameTaken(f"{kind} port {port} on {addr} is taken in namespace {ns or '(current)'}") from None
        raise


class EndpointDriver:
    """Runs a sans-I/O `endpoint` on the running asyncio loop: after every arrival and timer it sends what the
    endpoint has (`_transmit`) and re-arms the endpoint's timer. Times are `clock` microseconds.

    Subclasses say how datagrams leave and arrive: `UdpEndpointDriver` (a UDP socket, with ECN) and
    `MessageEndpointDriver` (any message transport, e.g. a WebRTC data channel).
    """

    def __init__(self, endpoint: Endpoint, clock: Clock, on_send: DatagramHook | None = None,
                 on_receive: DatagramHook | None = None) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.on_send = on_send
        self.on_receive = on_receive
        self.datagrams_sent = self.datagrams_received = self.send_errors = 0
        self.bytes_sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._running = False

    def start(self) -> None:
        """Begin: let the endpoint send its first datagrams."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._pump()

    def stop(self) -> None:
        """Stop sending, receiving and firing timers."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deliver(self, data: bytes, now: int, ecn: int) -> None:
        self.datagrams_received += 1
        if self.on_receive is not None:
            self.on_receive(data, now, ecn)
        self.endpoint.receive_datagram(data, now, ecn)

    def _ready(self) -> bool:
        return True

    def _transmit(self, data: bytes, ecn: int) -> None:
        raise NotImplementedError

    def _pump(self) -> None:
        if not self._running:
            return
        now = self.clock.now()
        ep = self.endpoint
        if self._ready():
            for data, ecn in ep.datagrams_to_send(now):
                if self.on_send is not None:
                    self.on_send(data, now, ecn)
                self.bytes_sent += len(data)
                self._transmit(data, ecn)
        self._arm(ep.get_timer())

    def _arm(self, t: int | None) -> None:
        if t == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = t
        if t is not None:
            self._timer = self._loop.call_at(self.clock.to_loop_time(t), self._on_timer)

    def _on_timer(self) -> None:
        armed = self._timer_at
        self._timer = None
        self._timer_at = None
        if not self._running:
            return
        # the loop fired at the armed time; float rounding must not make the timer look early
        now = max(self.clock.now(), armed or 0)
        due = self.endpoint.get_timer()
        if due is not None and due <= now:
            self.endpoint.handle_timer(now)
        self._pump()


class MessageEndpointDriver(EndpointDriver):
    """An endpoint over any message transport: `send(data)` carries a datagram, `receive(data)` hands one in."""

    def __init__(self, endpoint: Endpoint, send: Callable[[bytes], None], clock: Clock,
                 on_send: DatagramHook | None = None, on_receive: DatagramHook | None = None) -> None:
        super().__init__(endpoint, clock, on_send, on_receive)
        self.send = send

    def receive(self, data: bytes) -> None:
        """A message arrived (no ECN on such transports)."""
        if not self._running:
            return
        self._deliver(data, self.clock.now(), 0)
        self._pump()

    def _transmit(self, data: bytes, ecn: int) -> None:
        self.datagrams_sent += 1
        self.send(data)


class UdpEndpointDriver(EndpointDriver):
    """Runs `endpoint` over `sock` on the running asyncio loop, talking to `peer` (None: the first sender heard).

    `on_send(data, now, ecn)` and `on_receive(data, now, ecn)` see every datagram,
    for measurements; times are `clock` microseconds, as the endpoint sees them. With `kernel_time`, an
    arrival's time is the kernel's receive timestamp (SO_TIMESTAMPNS, on the clock's time base) instead of
    when the loop got to it, so time the process spent elsewhere (its other work, the scheduler) does not
    count as network delay; `loop_lateness_us` collects the difference.
    """

    def __init__(self, endpoint: Endpoint, sock: socket.socket, peer: tuple[str, int] | None, clock: Clock,
                 on_send: DatagramHook | None = None, on_receive: DatagramHook | None = None,
                 kernel_time: bool = False) -> None:
        super().__init__(endpoint, clock, on_send, on_receive)
        self.sock = sock
        self.peer = peer
        self._backlog: deque[tuple[bytes, int]] = deque()
        self.kernel_time = kernel_time
        self.loop_lateness_us: deque[int] = deque(maxlen=1 << 16)
        self._realtime_offset_ns = 0
        if kernel_time:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self._realtime_offset_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
        if peer is not None:
            sock.connect(peer)

    def start(self) -> None:
        """Begin: watch the socket and let the endpoint send its first datagrams."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._on_readable)
        super().start()

    def stop(self) -> None:
        """Stop sending, receiving and firing timers (the socket stays open)."""
        super().stop()
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        """Stop and close the socket."""
        self.stop()
        self.sock.close()

    # -- receiving --------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self.sock
        got = False
        cmsg = _TS_CMSG if self.kernel_time else _TOS_CMSG
        while self._running:
            try:
                data, anc, _flags, addr = sock.recvmsg(65536, cmsg)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier send; UDP carries on
            now = self.clock.now()
            ecn = 0
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == socket.IP_TOS and value:
                    ecn = value[0] & 3
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    kt = (sec * 1_000_000_000 + nsec - self._realtime_offset_ns - self.clock.epoch_ns) // 1000
                    self.loop_lateness_us.append(now - kt)
                    now = min(now, kt)
            if self.peer is None:
                self.peer = addr
                sock.connect(addr)
            self._deliver(data, now, ecn)
            got = True
        if got:
            self._pump()

    # -- sending ----------------------------------------------------------------------------------
    def _ready(self) -> bool:
        return self.peer is not None

    def _transmit(self, data: bytes, ecn: int) -> None:
        if self._backlog:
            self._backlog.append((data, ecn))
            return
        try:
            self.sock.sendmsg([data], [(socket.IPPROTO_IP, socket.IP_TOS, _INT.pack(ecn))])
            self.datagrams_sent += 1
        except BlockingIOError:
            self._backlog.append((data, ecn))
            self._loop.add_writer(self.sock.fileno(), self._flush)
        except OSError:
            self.send_errors += 1  # e.g. ECONNREFUSED from an earlier ICMP error, ENOBUFS: lost, as on a wire

    def _flush(self) -> None:
        while self._backlog:
            data, ecn = self._backlog[0]
            try:
                self.sock.sendmsg([data], [(socket.IPPROTO_IP, socket.IP_TOS, _INT.pack(ecn))])
                self.datagrams_sent += 1
            except BlockingIOError:
                return
            except OSError:
                self.send_errors += 1
            self._backlog.popleft()
        self._loop.remove_writer(self.sock.fileno())


# -- kernel TCP ------------------------------------------------------------------------------------

async def open_tcp_connection(ns: str | None, host: str, port: int, **kwargs) -> tuple[asyncio.StreamReader,
                                                                                       asyncio.StreamWriter]:
    """`asyncio.open_connection` from inside namespace `ns` (the socket lives there; the loop can be anywhere)."""
    with netns.enter(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, **kwargs)


async def start_tcp_server(ns: str | None, handler, host: str = "0.0.0.0", port: int = 0,
                           **kwargs) -> asyncio.AbstractServer:
    """`asyncio.start_server` listening inside namespace `ns`; NameTaken if the port is in use there."""
    with netns.enter(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _bind(sock, ns, host, port, "TCP", [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)])
    sock.listen(128)
    sock.setblocking(False)
    return await asyncio.start_server(handler, sock=sock, **kwargs)

"""Live ports of the software switch: AF_PACKET sockets on veth/TAP interfaces, in any namespace.

One thread waits on all port sockets (epoll) and hands each received frame to the switch; the
switch's outputs are written to the egress ports' sockets from that thread. Frames the kernel
reports as our own transmissions (PACKET_OUTGOING) are skipped.

A port on an L3 device (a TUN interface, such as a netkit live link's end) carries bare IPv4
packets: the switch still sees Ethernet frames (a zeroed Ethernet header with type IPv4 is put in
front of each arrival) and sends the IP packet of each IPv4 frame it emits there (anything else is
dropped, as no L3 device could carry it).
"""
from __future__ import annotations

import os
import select
import socket
import threading

from netkit.emu import netns
from netkit.p4.software.device import SoftwareSwitch
from netkit.p4.target import PortSpec

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
RT_PRIORITY = 10   # as netkit's live driver threads: below the link process (20)
ARPHRD_NONE = 0xFFFE   # the hardware type of a TUN device: no link-layer header
ETHERNET_IPV4 = bytes(12) + b"\x08\x00"


def is_l3(sock: socket.socket) -> bool:
    """Whether a bound AF_PACKET socket's interface has no link-layer header (TUN)."""
    return sock.getsockname()[3] == ARPHRD_NONE


def open_port(spec: PortSpec) -> socket.socket:
    """A raw AF_PACKET socket bound to the port's interface (inside its namespace, if one is named)."""
    with netns.enter(spec.netns):
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise OSError(f"--port {spec}: raw sockets need root (CAP_NET_RAW)") from None
        try:
            sock.bind((spec.iface, 0))
        except OSError as exc:
            sock.close()
            where = f" in namespace {spec.netns}" if spec.netns else ""
            raise OSError(f"--port {spec}: cannot open interface {spec.iface}{where}: {exc.strerror}") from None
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass   # older kernels: outgoing frames are filtered by pkttype below
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.setblocking(False)
    return sock


class PortIO:
    """The switch's live ports: open sockets, attach senders to the switch, forward in a thread."""

    def __init__(self, switch: SoftwareSwitch, ports: list[PortSpec], realtime: bool = True):
        numbers = [p.number for p in ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"--port: port numbers repeat ({', '.join(map(str, numbers))})")
        self.switch = switch
        self.realtime = realtime
        self.is_realtime = False
        self.socks: dict[int, socket.socket] = {}
        try:
            for p in ports:
                self.socks[p.number] = open_port(p)
        except OSError:
            self.close()
            raise
        self.l3 = {number for number, sock in self.socks.items() if is_l3(sock)}
        for number, sock in self.socks.items():
            switch.ports[number] = self._sender(sock, number in self.l3)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True, name="p4-ports")
        self.received = 0

    @staticmethod
    def _sender(sock: socket.socket, l3: bool = False):
        def send(data: bytes) -> None:
            try:
                sock.send(data)
            except (BlockingIOError, OSError):
                pass   # a full or vanished interface drops the frame, as a real port would

        def send_ip(data: bytes) -> None:
            if data[12:14] == b"\x08\x00":
                send(data[14:])
        return send_ip if l3 else send

    def start(self) -> None:
        """Start forwarding."""
        self._thread.start()

    def _run(self) -> None:
        if self.realtime:
            # SCHED_FIFO, as netkit's link process: on a busy machine the switch is woken on time
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
                self.is_realtime = True
            except (OSError, AttributeError):
                pass
        ep = select.epoll()
        by_fd = {s.fileno(): (n, s) for n, s in self.socks.items()}
        for fd in by_fd:
            ep.register(fd, select.EPOLLIN)
        ep.register(self._stop_r, select.EPOLLIN)
        receive = self.switch.receive
        l3 = self.l3
        try:
            while True:
                for fd, _ in ep.poll():
                    if fd == self._stop_r:
                        return
                    number, sock = by_fd[fd]
                    for _ in range(64):   # drain a burst before polling again
                        try:
                            data, addr = sock.recvfrom(65535)
                        except BlockingIOError:
                            break
                        except OSError:
                            break
                        if addr[2] == PACKET_OUTGOING:
                            continue
                        self.received += 1
                        receive(number, ETHERNET_IPV4 + data if number in l3 else data)
        finally:
            ep.close()

    def close(self) -> None:
        """Stop the thread and close every socket."""
        if hasattr(self, "_stop_w"):
            os.write(self._stop_w, b"x")
            if self._thread.is_alive():
                self._thread.join(timeout=2)
            os.close(self._stop_r)
            os.close(self._stop_w)
            del self._stop_w
        for number, sock in self.socks.items():
            self.switch.ports.pop(number, None)
            sock.close()
        self.socks = {}

"""A kernel-timestamped packet tap on every interface of a namespace, for measuring an SFU from outside.

The live runners time what enters and leaves the SFU's namespace with the kernel's receive stamps, so
the SFU's own scheduling does not flatter it. `PacketTap` owns the socket and the reading thread;
a subclass says what to keep from each packet.
"""
from __future__ import annotations

import socket
import struct
import threading

SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4         # sll_pkttype of a packet the namespace sent
ARPHRD_NONE = 0xFFFE        # the link type of the TUN-backed links (IP packets, no link header)
SNAP = 80                   # bytes of each packet the tap reads: IP, UDP, RTP header, VP8 descriptor, some data
TAP_BUFFER = 16 << 20


class PacketTap:
    """An AF_PACKET socket on every interface of namespace `ns`, read by a thread: each IP packet of the
    links goes to `on_packet(data, addr, t_ns)`, with `t_ns` the kernel's receive stamp (CLOCK_REALTIME).
    Subclasses set their own state, then call `start()`."""

    def __init__(self, ns: str, name: str):
        from netkit.emu import netns

        with netns.enter(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, TAP_BUFFER)   # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TAP_BUFFER)
        self.sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def on_packet(self, data: bytes, addr: tuple, t_ns: int) -> None:
        """One packet of the links (`addr` as recvmsg gives it: device, protocol, packet type, link type)."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop:
            try:
                data, anc, _f, addr = self.sock.recvmsg(SNAP, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[3] != ARPHRD_NONE:
                continue
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", value[:16])
                    self.on_packet(data, addr, sec * 1_000_000_000 + nsec)
                    break

    def stop(self) -> None:
        """Stop reading and close the socket."""
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()

"""The kernel's own drops around a live link: TUN device counters and the UDP counters of a namespace.

A link process counts what its queues drop. Packets can also be lost by the
kernel before the link reads them (the outer TUN's transmit ring is full:
`tx_dropped` of the device the traffic enters) or after it writes them (the
receiving socket's buffer is full: `RcvbufErrors` of UDP in `/proc/net/snmp`
of the receiving namespace; or the device's `rx_dropped`). `--stats` reports
them per direction next to the link's own drops.
"""
from __future__ import annotations

from pyroute2 import IPRoute

from netkit.emu import netns

UDP_KEYS = ("RcvbufErrors", "SndbufErrors", "InErrors")


def parse_snmp_udp(text: str) -> dict[str, int]:
    """The `Udp:` counters of a `/proc/net/snmp` text, by name (header line, then value line)."""
    rows = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    names, values = rows[0][1:], rows[1][1:]
    return {n: int(v) for n, v in zip(names, values)}


def udp_counters(ns: str | None) -> dict[str, int]:
    """UDP error counters of namespace `ns` (None: the caller's), as `parse_snmp_udp` returns them."""
    with netns.enter(ns):
        # thread-self: the namespace this thread entered (/proc/self/net shows the main thread's)
        with open("/proc/thread-self/net/snmp") as f:
            udp = parse_snmp_udp(f.read())
    return {k: udp.get(k, 0) for k in UDP_KEYS}


def device_counters(ns: str | None, dev: str) -> dict[str, int]:
    """rx/tx dropped and error counters of interface `dev` in namespace `ns` ({} if it is gone)."""
    with netns.enter(ns), IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=dev)
        if not idx:
            return {}
        link = ipr.get_links(idx[0])[0]
    stats = link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS") or {}
    return {k: int(stats.get(k, 0)) for k in ("rx_dropped", "tx_dropped", "rx_errors", "tx_errors")}


def kernel_drops(outer_dev: dict, inner_dev: dict, inner_udp: dict, outer_udp: dict | None) -> dict[str, dict]:
    """Per direction, the kernel's drops on each side of the link and their total (`kernel_dropped`).

    downlink (outer -> inner): the outer TUN's tx_dropped before the link, the inner TUN's rx_dropped and
    the inner namespace's UDP RcvbufErrors after it; uplink the mirror image, with the inner namespace's
    UDP SndbufErrors (its senders' buffers) before it and, when the outer side is a namespace of its own,
    its UDP RcvbufErrors after it. `inner_udp`/`outer_udp` are increases over the link's lifetime.
    """
    down = {"before_link_tx_dropped": outer_dev.get("tx_dropped", 0),
            "after_link_rx_dropped": inner_dev.get("rx_dropped", 0),
            "udp_rcvbuf_errors": inner_udp.get("RcvbufErrors", 0)}
    up = {"before_link_tx_dropped": inner_dev.get("tx_dropped", 0),
          "udp_sndbuf_errors": inner_udp.get("SndbufErrors", 0),
          "after_link_rx_dropped": outer_dev.get("rx_dropped", 0)}
    if outer_udp is not None:
        up["udp_rcvbuf_errors"] = outer_udp.get("RcvbufErrors", 0)
        down["udp_sndbuf_errors"] = outer_udp.get("SndbufErrors", 0)
    return {"downlink": down, "uplink": up}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """`after - before`, key by key."""
    return {k: v - before.get(k, 0) for k, v in after.items()}

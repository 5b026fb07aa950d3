"""Topologies: `path` (server and client), `dumbbell` (N pairs sharing one bottleneck), `star` (N hosts
around a central node, each behind its own access link in each direction).

A `Topology` names its hosts, its links (each a `LinkPlan` of two directions with
component names) and the route between any two hosts as the list of direction
components a packet crosses. Component names, and so the derived seeds and the
log file names, are the same for the simulator and the live emulation:

* path and dumbbell: one bottleneck, components `down` (server or senders to
  client or receivers) and `up`;
* star: per host `hI.down` (center to host I) and `hI.up` (host I to center);
  hosts `h1..hN` and `center`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from netkit import validate as v
from netkit.errors import UserError
from netkit.net.direction import LinkDirection, LinkPlan, plan_direction

TOPOLOGIES = ("path", "dumbbell", "star")
MAX_HOSTS = 250  # hosts of a star, pairs of a dumbbell (each a namespace when emulated)
TOPOLOGY_KEYS = {"path": ("kind",), "dumbbell": ("kind", "pairs"), "star": ("kind", "hosts")}


@dataclass(frozen=True)
class Topology:
    """The hosts and links of a network, and each direction's `LinkDirection`.

    `down` and `up` are the bottleneck's directions (path, dumbbell) or every
    host's access link (star, where `overrides` maps `hI` to per-host changes of
    `down`/`up`). `pairs` is the dumbbell's pair count, `hosts` the star's host count.
    """

    kind: str = "path"
    down: LinkDirection = field(default_factory=LinkDirection)
    up: LinkDirection = field(default_factory=LinkDirection)
    pairs: int = 1
    hosts: int = 2
    overrides: Mapping[str, tuple[LinkDirection, LinkDirection]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, topology: Mapping[str, Any], links: Mapping[str, Any], pairs_default: int = 1,
                  topology_key: str = "topology", links_key: str = "links") -> "Topology":
        """Read `[topology]` and `[links...]` tables; UserError names the dotted key of the first bad value."""
        v.table(topology, topology_key)
        kind = v.choice(topology.get("kind", "path"), v.join(topology_key, "kind"), TOPOLOGIES)
        v.known_keys(topology, TOPOLOGY_KEYS[kind], topology_key)
        pairs = v.integer(topology.get("pairs", pairs_default), v.join(topology_key, "pairs"), minimum=1,
                          maximum=MAX_HOSTS)
        hosts = v.integer(topology.get("hosts", 2), v.join(topology_key, "hosts"), minimum=1, maximum=MAX_HOSTS)
        v.table(links, links_key)
        names = ["down", "up"] + ([f"h{i}" for i in range(1, hosts + 1)] if kind == "star" else [])
        v.known_keys(links, names, links_key)
        down = LinkDirection.from_dict(links.get("down", {}), v.join(links_key, "down"))
        up = LinkDirection.from_dict(links.get("up", {}), v.join(links_key, "up"))
        overrides = {}
        for host in names[2:]:
            if host in links:
                key = v.join(links_key, host)
                table = v.table(links[host], key)
                v.known_keys(table, ("down", "up"), key)
                pair = []
                for d, base in (("down", down), ("up", up)):
                    merged = {**base.to_dict(), **v.table(table.get(d, {}), v.join(key, d))}
                    pair.append(LinkDirection.from_dict(merged, v.join(key, d)))
                overrides[host] = (pair[0], pair[1])
        return cls(kind, down, up, pairs, hosts, overrides)

    # -- hosts and routes -----------------------------------------------------------------------------
    def host_names(self) -> list[str]:
        """Every host, servers/senders first."""
        if self.kind == "path":
            return ["server", "client"]
        if self.kind == "dumbbell":
            return [f"sender-{i}" for i in range(1, self.pairs + 1)] + \
                   [f"receiver-{i}" for i in range(1, self.pairs + 1)]
        return ["center"] + [f"h{i}" for i in range(1, self.hosts + 1)]

    def default_placement(self, index: int) -> tuple[str, str]:
        """(server host, client host) of the `index`-th app (from 0) when the experiment does not place it."""
        if self.kind == "path":
            return "server", "client"
        if self.kind == "dumbbell":
            if index >= self.pairs:
                raise UserError(f"the dumbbell has {self.pairs} pairs, so at most {self.pairs} apps "
                                f"(set topology.pairs)", f"apps.{index}")
            return f"sender-{index + 1}", f"receiver-{index + 1}"
        return "center", f"h{index % self.hosts + 1}"

    def side(self, host: str) -> str:
        """`outer` (the server side of the bottleneck) or `inner`; for a star the host's own name."""
        if self.kind == "path":
            return "outer" if host == "server" else "inner"
        if self.kind == "dumbbell":
            return "outer" if host.startswith("sender-") else "inner"
        return host

    def route(self, src: str, dst: str) -> list[str]:
        """Direction components a packet from `src` to `dst` crosses, in order."""
        hosts = self.host_names()
        for h in (src, dst):
            if h not in hosts:
                raise UserError(f"unknown host {h!r}; expected one of {', '.join(hosts)}")
        if src == dst:
            raise UserError(f"a flow needs two different hosts, got {src!r} twice")
        if self.kind in ("path", "dumbbell"):
            a, b = self.side(src), self.side(dst)
            if a == b:
                raise UserError(f"{src} and {dst} are on the same side of the bottleneck; "
                                "a flow must cross it")
            if self.kind == "dumbbell" and src.split("-")[1] != dst.split("-")[1]:
                raise UserError(f"{src} and {dst} are not a pair of the dumbbell")
            return ["down"] if a == "outer" else ["up"]
        route = []
        if src != "center":
            route.append(f"{src}.up")
        if dst != "center":
            route.append(f"{dst}.down")
        return route

    def components(self) -> list[str]:
        """Every direction component, in a fixed order."""
        if self.kind != "star":
            return ["down", "up"]
        return [f"h{i}.{d}" for i in range(1, self.hosts + 1) for d in ("down", "up")]

    def direction(self, component: str) -> LinkDirection:
        """The `LinkDirection` of a component."""
        if component in ("down", "up") and self.kind != "star":
            return self.down if component == "down" else self.up
        host, _, d = component.partition(".")
        pair = self.overrides.get(host, (self.down, self.up))
        return pair[0] if d == "down" else pair[1]

    def link_plans(self, seed: int, log_dir: str | None = None, command: str = "netkit") -> list[LinkPlan]:
        """One `LinkPlan` per link, seeded and (with `log_dir`) logging."""
        if self.kind != "star":
            return [LinkPlan(plan_direction(self.down, "down", seed, log_dir, command),
                             plan_direction(self.up, "up", seed, log_dir, command), "link")]
        return [LinkPlan(plan_direction(self.direction(f"h{i}.down"), f"h{i}.down", seed, log_dir, command),
                         plan_direction(self.direction(f"h{i}.up"), f"h{i}.up", seed, log_dir, command), f"h{i}")
                for i in range(1, self.hosts + 1)]

    def bottleneck(self) -> str | None:
        """The component whose capacity the run's utilisation is measured against (None for a star)."""
        return "down" if self.kind != "star" else None

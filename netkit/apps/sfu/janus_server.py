"""Janus (Debian `janus`, 1.1.x) as a child process: a generated, temporary config folder with only the
VideoRoom plugin and the HTTP transport, bound to one address inside a namespace (or loopback).

`JanusServer(ns, ip, rooms).start()` writes janus.jcfg, janus.transport.http.jcfg and
janus.plugin.videoroom.jcfg (one static room per meeting) into a temporary folder, links the two
shared objects it needs into private plugin/transport folders (Janus loads every plugin it finds),
starts `janus` in namespace `ns`, and waits until `GET /janus/info` answers. The process and the
folder are in netkit's cleanup registry (exit, exception, SIGTERM, Ctrl-C). A missing binary is one
clear line (`JanusMissing`, an OSError, so the CLI prints it and exits 2).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # netkit.emu is imported where it is used: janus_client's children import this module
    from netkit.emu.daemon import Daemon

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
HTTP_PORT = 8088
RTP_PORTS = (20000, 29999)          # Janus's media ports (ICE host candidates), told to the forwarding tap
PUBLISHER_BITRATE = 800_000         # the room's REMB cap to publishers (bit/s): about the P4 clients' 794 kbit/s
READY_TIMEOUT_S = 15.0


class JanusMissing(OSError):
    """The janus binary or its VideoRoom/HTTP modules are not installed."""


def janus_binary() -> str:
    """Path of the janus binary, or raise JanusMissing with the install command."""
    path = shutil.which("janus")
    if path is None:
        raise JanusMissing("janus is not installed (apt-get install -y janus; `make deps` installs it)")
    for sub, name in (("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_http.so")):
        if not (JANUS_LIB / sub / name).exists():
            raise JanusMissing(f"janus is installed but {JANUS_LIB / sub / name} is missing")
    return path


def http_get(url: str, timeout: float) -> dict:
    """GET a Janus URL (no proxies: the address is inside our namespaces); the JSON reply."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return json.loads(r.read())


def http_post(url: str, body: dict, timeout: float) -> dict:
    """POST a JSON request to Janus; the JSON reply."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with opener.open(req, timeout=timeout) as r:
        return json.loads(r.read())


def _config(folder: Path, ip: str, iface: str | None, rooms: dict[int, str], debug_level: int) -> None:
    for sub in ("plugins", "transports", "none"):
        (folder / sub).mkdir()
    os.symlink(JANUS_LIB / "plugins" / "libjanus_videoroom.so", folder / "plugins" / "libjanus_videoroom.so")
    os.symlink(JANUS_LIB / "transports" / "libjanus_http.so", folder / "transports" / "libjanus_http.so")
    nat = [f'ice_enforce_list = "{iface or ip}"', "nice_debug = false", "ignore_mdns = true"]
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f'  configs_folder = "{folder}"\n  plugins_folder = "{folder}/plugins"\n'
        f'  transports_folder = "{folder}/transports"\n  events_folder = "{folder}/none"\n'
        f'  loggers_folder = "{folder}/none"\n  debug_level = {debug_level}\n  debug_timestamps = true\n'
        "  session_timeout = 120\n}\n"
        "certificates: {\n}\n"
        f'media: {{\n  ipv6 = false\n  rtp_port_range = "{RTP_PORTS[0]}-{RTP_PORTS[1]}"\n}}\n'
        "nat: {\n  " + "\n  ".join(nat) + "\n}\n"
        "plugins: {\n}\ntransports: {\n}\nloggers: {\n}\nevents: {\n  broadcast = false\n}\n")
    (folder / "janus.transport.http.jcfg").write_text(
        "general: {\n  json = \"plain\"\n  base_path = \"/janus\"\n  http = true\n"
        f"  port = {HTTP_PORT}\n  ip = \"{ip}\"\n  https = false\n}}\n"
        "admin: {\n  admin_http = false\n  admin_https = false\n}\ncors: {\n}\n")
    room_text = "".join(
        f"room-{rid}: {{\n  description = \"{desc}\"\n  publishers = 16\n  bitrate = {PUBLISHER_BITRATE}\n"
        "  fir_freq = 10\n  videocodec = \"vp8\"\n  audiocodec = \"opus\"\n  notify_joining = false\n}\n"
        for rid, desc in rooms.items())
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n" + room_text)


class JanusServer:
    """One janus process serving `rooms` ({room id: description}) on `ip`, in namespace `ns` (None: here)."""

    def __init__(self, ns: str | None, ip: str, rooms: dict[int, str], iface: str | None = None,
                 log_path: str | Path | None = None, debug_level: int = 3, realtime: bool = False):
        self.ns, self.ip, self.rooms, self.iface = ns, ip, rooms, iface
        self.realtime = realtime
        self.log_path = log_path
        self.debug_level = debug_level
        self.daemon: Daemon | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._token: int | None = None

    @property
    def proc(self) -> subprocess.Popen | None:
        """janus's process, once started."""
        return self.daemon.proc if self.daemon is not None else None

    @property
    def url(self) -> str:
        """The HTTP API's base URL."""
        return f"http://{self.ip}:{HTTP_PORT}/janus"

    def start(self) -> "JanusServer":
        """Write the config, start janus and wait until its HTTP API answers (or raise OSError with its log)."""
        from netkit.emu.daemon import Daemon
        from netkit.emu.resources import registry

        binary = janus_binary()
        self._tmp = tempfile.TemporaryDirectory(prefix="nk-janus-")
        folder = Path(self._tmp.name)
        self._token = registry().add("janus (SFU baseline) folder", self._remove_folder)
        try:
            _config(folder, self.ip, self.iface, self.rooms, self.debug_level)
            log = Path(self.log_path) if self.log_path else folder / "janus.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            self.daemon = Daemon([binary, "-C", str(folder / "janus.jcfg"), "-F", str(folder), "-o"], self.ns, log,
                                 "janus", stdin=subprocess.DEVNULL, realtime=self.realtime, stop_timeout_s=5.0)
            self.daemon.wait_ready(self._serves, READY_TIMEOUT_S, f"answer on {self.url}/info", interval_s=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def _serves(self) -> bool:
        """Whether janus answers `GET /info` with the VideoRoom plugin loaded (OSError: why not yet)."""
        from netkit.emu import netns

        with netns.enter(self.ns):
            info = http_get(f"{self.url}/info", 1.0)
        if "janus.plugin.videoroom" not in info.get("plugins", {}):
            raise OSError("the VideoRoom plugin did not load")
        return True

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of janus's log, on one line."""
        return self.daemon.log_tail(lines) if self.daemon is not None else "(no log)"

    def cpu_seconds(self) -> float:
        """User + system CPU time janus has used so far (from /proc; 0 if it is gone)."""
        return self.daemon.cpu_seconds() if self.daemon is not None else 0.0

    def _remove_folder(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def stop(self) -> None:
        """Stop janus and remove its folder (idempotent)."""
        from netkit.emu.resources import registry

        if self.daemon is not None:
            self.daemon.stop()
        if self._token is not None:
            token, self._token = self._token, None
            registry().release(token)

    def __enter__(self) -> "JanusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

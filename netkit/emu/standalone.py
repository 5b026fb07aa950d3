"""`netkit link`: a live link between two namespaces that already exist, until SIGINT/SIGTERM."""
from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

from netkit.emu.errors import require_root, require_tun
from netkit.net.direction import LinkPlan
from netkit.emu.tunlink import TunLink


def run_link(spec: LinkPlan, outer: str, inner: str, realtime: bool = True, stats_path: str | None = None) -> int:
    """Join `outer` and `inner` with a live link, print both addresses, forward until interrupted."""
    require_root("netkit link")
    require_tun()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    link = TunLink(spec, inner, outer, realtime=realtime)
    try:
        link.start()
        print(f"outer {link.outer_addr} ({link.outer_dev} in {outer}) <-> "
              f"inner {link.inner_addr} ({link.inner_dev} in {inner}); Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                if not link.process.alive():
                    break
        except KeyboardInterrupt:
            pass
    finally:
        stats = link.close()
    if stats_path and stats is not None:
        Path(stats_path).write_text(json.dumps(stats, indent=1))
    return 0

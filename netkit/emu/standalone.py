"""`netkit link`: a live link between two namespaces that already exist, until SIGINT/SIGTERM/SIGHUP."""
from __future__ import annotations

import json
import time

from netkit import interrupts
from netkit.emu.errors import EmuError, require_root, require_tun
from netkit.net.direction import LinkPlan
from netkit.emu.tunlink import TunLink
from netkit.files import atomic_write_text, check_writable


def run_link(spec: LinkPlan, outer: str, inner: str, realtime: bool = True, stats_path: str | None = None) -> int:
    """Join `outer` and `inner` with a live link, print both addresses, forward until a signal ends it.

    The signal ends the command with 128+N (`netkit.interrupts`); a link process that stops by itself
    raises EmuError with its error.
    """
    require_root("netkit link")
    require_tun()
    if stats_path:
        check_writable(stats_path, "--stats", folder=False)
    link = TunLink(spec, inner, outer, realtime=realtime)
    stats = None
    try:
        link.start()
        print(f"outer {link.outer_addr} ({link.outer_dev} in {outer}) <-> "
              f"inner {link.inner_addr} ({link.inner_dev} in {inner}); Ctrl-C to stop", flush=True)
        while link.process.alive():
            interrupts.check()
            time.sleep(0.2)
    finally:
        with interrupts.deferred():
            stats = link.close()
            if stats_path and stats is not None:
                atomic_write_text(stats_path, json.dumps(stats, indent=1))
    raise EmuError(f"the link process stopped ({link.process.failure or 'no reason given'})")

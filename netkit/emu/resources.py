"""A registry of what this process created (namespaces, routes, link processes, address leases).

Everything is released newest first: at the end of a command (`netkit.interrupts.finish`),
at normal exit (atexit), and when an exception unwinds a `with` block. SIGINT,
SIGTERM and SIGHUP raise `netkit.interrupts.Interrupted` (see that module), so
`finally` blocks run; registering and releasing are critical sections, so a
signal never leaves a resource created but unregistered, or a cleanup half run.
What a SIGKILL leaves behind carries this process's PID in its name and is
removed by `netkit clean`.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Callable

from netkit import interrupts
from netkit.emu.names import mark_run, unmark_run


class Registry:
    """Created resources with the functions that remove them."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[str, Callable[[], None]]] = {}
        self._next = 0
        self._owner = os.getpid()
        self._lock = threading.RLock()

    def add(self, what: str, release: Callable[[], None]) -> int:
        """Register `release` (removes `what`); return a token for releasing it early."""
        with interrupts.deferred(), self._lock:
            if not self._items and os.getpid() == self._owner:
                mark_run()
            self._next += 1
            self._items[self._next] = (what, release)
            return self._next

    def release(self, token: int) -> None:
        """Remove one resource now (no error if already released); a signal meanwhile waits until it is done."""
        with interrupts.deferred():
            with self._lock:
                item = self._items.pop(token, None)
            if item is not None:
                self._run(*item)
            self._maybe_unmark()

    def release_all(self) -> None:
        """Remove everything, newest first; failures are reported on stderr, never raised."""
        if os.getpid() != self._owner:
            return  # a forked child must not tear down its parent's resources
        with interrupts.deferred():
            while True:
                with self._lock:
                    if not self._items:
                        break
                    token = max(self._items)
                    what, release = self._items.pop(token)
                self._run(what, release)
            self._maybe_unmark()

    def _maybe_unmark(self) -> None:
        if not self._items and os.getpid() == self._owner:
            unmark_run()

    @staticmethod
    def _run(what: str, release: Callable[[], None]) -> None:
        try:
            release()
        except Exception as exc:  # cleanup must go on with the rest
            print(f"netkit: cleaning up {what} failed: {exc}", file=sys.stderr)

    def __len__(self) -> int:
        return len(self._items)

    def describe(self) -> list[str]:
        """What is registered, oldest first."""
        return [what for what, _ in self._items.values()]


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry; first use installs the atexit hook and netkit's signal handling."""
    global _registry
    if _registry is None or _registry._owner != os.getpid():
        _registry = Registry()
        atexit.register(_registry.release_all)
        interrupts.install(if_default=True)
    interrupts.at_finish(_registry.release_all)
    return _registry

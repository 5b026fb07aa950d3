"""SIGINT, SIGTERM and SIGHUP for every netkit command: one handler, exit status 128+N, cleanup never cut short.

`install()` sets one handler for the three signals in the main thread: started
as the CLI, `netkit/__init__.py` does it on its first line (`hold`: signals are
only recorded until `netkit.cli.main` runs the command inside `handling()`); the
emulator's resource registry does it for API users whose handlers are the
defaults. It
records the signal and raises `Interrupted` (a `KeyboardInterrupt`, so asyncio
and the existing `except KeyboardInterrupt` paths let it through), except:

* inside `deferred()` (a critical section: creating a resource together with
  its registration for cleanup, or the cleanup itself) it only records the
  signal; the outermost section raises it on the way out, so a step is never
  half done;
* once an `Interrupted` has been raised (the unwinding and its cleanup are
  under way), or after `finish()`, later signals are only recorded: a second
  Ctrl-C or SIGTERM never cuts cleanup short;
* inside `forwarding(fn)` it calls `fn(signum)` instead (a shell passes the
  signal on to its command and waits for it).

Raising from a signal handler at an arbitrary point can lose the exception: one
raised inside an at-fork hook (logging's `_releaseLock`), a `__del__` or a weakref
callback (the import system's module locks) can only be reported by Python as
"Exception ignored in ...". Such a lost `Interrupted` is not printed: it is
re-armed instead (the signal stays recorded), and loops that wait call
`check()`, which raises a recorded signal at that safe point, so such a signal
still ends the run. `status()` is the conventional exit status (130, 143, 129) once a signal came.
After the CLI's command the signals are ignored until the process exits (Python's
finalization would otherwise put the default actions back and a late signal would
replace the exit status).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived; `status` is the conventional exit status 128 + signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.status = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        # the unwinding drops coroutines made but not yet started (`run(main())` hit between the two calls);
        # Python's "never awaited" warning about them would be a second line after the one the user gets
        warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)


class _State:
    def __init__(self) -> None:
        self.owner: int | None = None  # the PID that installed the handler (forked children act by default)
        self.received: list[int] = []
        self.raised = False
        self.closing = False
        self.depth = 0
        self.forward: Callable[[int], None] | None = None
        self.cleanups: list[Callable[[], None]] = []
        self.previous: dict = {}
        self.held = False
        self.active = 0  # how many handling() blocks are open (in-process commands run by a command)
        self.early = False  # installed by the CLI's first line: the process ends with the command


_s = _State()
_previous_unraisable = sys.unraisablehook  # reports every other unraisable exception as before


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum: int, frame) -> None:
    if os.getpid() != _s.owner:
        # a forked worker (process pool) keeps the default behaviour: end quietly, or KeyboardInterrupt for SIGINT
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _s.received.append(signum)
    if _s.forward is not None:
        _s.forward(signum)
        return
    if _s.depth or _s.raised or _s.closing:
        return
    _s.raised = True
    raise Interrupted(signum)


def _unraisable(unraisable) -> None:
    """`sys.unraisablehook`: an `Interrupted` Python could not raise is re-armed, not printed; others as before."""
    if isinstance(unraisable.exc_value, Interrupted) and installed():
        _s.raised = False  # lost on the way: the next signal, or check() at a safe point, raises it again
        return
    _previous_unraisable(unraisable)


def install(if_default: bool = False, hold: bool = False) -> bool:
    """Handle SIGINT, SIGTERM and SIGHUP as described above (main thread only); True if they are handled so now.

    With `if_default`, only when no other handler was set for any of them (a library user's own handlers stay).
    With `hold` (the CLI's first statement, before its imports), signals are only recorded until `handling()`
    begins, which raises the first one at once.
    """
    if _s.owner == os.getpid():
        return True
    if not _in_main_thread():
        return False
    if if_default and any(signal.getsignal(s) not in (signal.SIG_DFL, signal.default_int_handler, None)
                          for s in SIGNALS):
        return False
    depth = _s.depth  # installed inside a deferred() section (the registry's first use): that section still counts
    _s.__init__()
    _s.depth = depth
    _s.owner = os.getpid()
    if hold:
        _s.held = _s.early = True
        _s.depth += 1
    _s.previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    global _previous_unraisable
    if sys.unraisablehook is not _unraisable:
        _previous_unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable
    return True


@contextmanager
def handling() -> Iterator[None]:
    """For one command: `install()` (or end the hold of an early one: call `check()` first thing, for what came
    meanwhile), and at the end `finish()` and the earlier handlers back."""
    if _s.active:  # a command run by a command (in-process): the outer one owns the signals and the cleanup
        _s.active += 1
        try:
            yield
        finally:
            _s.active -= 1
        return
    ours = not installed()  # installed early by the CLI (held): stays, only recording, until the process exits
    if _s.held and installed():
        _s.held = False
        _s.depth -= 1
    else:
        install()
        reset()
    _s.active = 1
    try:
        yield
    finally:
        _s.active = 0
        finish()
        if ours and installed() and _in_main_thread():
            for sig, handler in _s.previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            _s.owner = None
        elif _s.early and _in_main_thread():
            # the process ends with the command, and Python's finalization puts the default actions back for
            # signals with a Python handler (not for ignored ones): a late signal must not change the exit status.
            # Ignored, not blocked: a mask is per thread, and another thread (tqdm's, pyroute2's) would take it.
            for sig in SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
        else:
            reset()  # installed by a library user before (the emulator's registry): back to normal raising


def installed() -> bool:
    """Whether this process handles the signals through this module."""
    return _s.owner == os.getpid()


def received() -> int | None:
    """The first signal received (None if none)."""
    return _s.received[0] if _s.received and installed() else None


def status() -> int | None:
    """128 + the first signal received, or None."""
    sig = received()
    return None if sig is None else 128 + sig


def check() -> None:
    """Raise `Interrupted` for a recorded signal (call at a point where stopping is safe: a wait, a poll)."""
    sig = received()
    if sig is not None and _s.forward is None and not _s.closing and _in_main_thread():
        _s.raised = True
        raise Interrupted(sig)


@contextmanager
def deferred() -> Iterator[None]:
    """A critical section: signals are recorded, and the first is raised when the outermost section ends.

    Nothing is raised at the end when an exception is already leaving the section, or when an
    `Interrupted` was raised before (cleanup under way). Other threads are never interrupted, so there
    the section is a no-op.
    """
    if not _in_main_thread():
        yield
        return
    _s.depth += 1
    try:
        yield
    finally:
        _s.depth -= 1
    if not _s.depth and not _s.raised and not _s.closing and _s.forward is None:
        sig = received()
        if sig is not None:
            _s.raised = True
            raise Interrupted(sig)


@contextmanager
def forwarding(forward: Callable[[int], None]) -> Iterator[None]:
    """Within the block, a signal calls `forward(signum)` (and is recorded) instead of raising."""
    previous, _s.forward = _s.forward, forward
    try:
        yield
    finally:
        _s.forward = previous


def at_finish(cleanup: Callable[[], None]) -> None:
    """Run `cleanup` in `finish()` (newest first), e.g. the emulator's resource registry."""
    if cleanup not in _s.cleanups:
        _s.cleanups.append(cleanup)


def finish() -> None:
    """End of the command: from now on signals are only recorded; run the registered cleanups, uninterrupted.

    Inside a command run in-process by another command, nothing: the outer command ends later.
    """
    if _s.active > 1:
        return
    _s.closing = True
    while _s.cleanups:
        cleanup = _s.cleanups.pop()
        cleanup()


def reset() -> None:
    """Forget received signals and leave closing mode (for a process that runs several commands, e.g. tests)."""
    _s.received.clear()
    _s.raised = _s.closing = False

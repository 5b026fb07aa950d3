"""Checks for AQM queue arguments.

Failures raise `QueueSpecError` with a message naming the queue, the argument and what was expected.

Spec strings arrive already converted (`codel:target=5` gives `target=5`), so
these helpers check types and ranges rather than parse text.
"""
from __future__ import annotations

from netkit.link.queues import QueueSpecError


def _bad(queue: str, name: str, value: object, expected: str) -> QueueSpecError:
    return QueueSpecError(f"{queue}: {name}={value!r} is not valid; expected {expected}")


def require(queue: str, name: str, value: object, expected: str) -> object:
    """Return `value`, or raise if the argument was not given (None)."""
    if value is None:
        raise QueueSpecError(f"{queue}: needs {name}=...; expected {expected}")
    return value


def int_arg(queue: str, name: str, value: object, minimum: int, expected: str) -> int:
    """An integer argument (bools refused) that is at least `minimum` (and fits in 64 bits)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 2**63 - 1:
        raise _bad(queue, name, value, expected)
    return value


def number_arg(
    queue: str,
    name: str,
    value: object,
    expected: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    """A real-valued, finite argument (int or float, bools refused) within the given bounds."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(queue, name, value, expected)
    if (positive and value <= 0) or (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise _bad(queue, name, value, expected)
    return float(value)


def limits(queue: str, packets: object, bytes: object) -> tuple[int, int]:  # noqa: A002 - Mahimahi's name
    """Mahimahi's `packets=` / `bytes=` limits: non-negative integers, at least one of them set."""
    p = int_arg(queue, "packets", packets, 0, "a packet limit, an integer >= 0")
    b = int_arg(queue, "bytes", bytes, 0, "a byte limit, an integer >= 0")
    if p == 0 and b == 0:
        raise QueueSpecError(f"{queue}: needs a limit; expected packets=N and/or bytes=N (N > 0)")
    return p, b

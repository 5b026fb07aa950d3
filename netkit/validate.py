"""Small typed checks for user input: each failure is one `UserError` naming the key and what was expected.

Used by the network description, the experiment files and the app parameters
(and meant for every command's options). Every function takes the dotted `key`
(or option name) the value came from, returns the value converted, or raises.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from netkit.errors import UserError


def _shown(value: Any) -> str:
    return repr(value) if not isinstance(value, float) else f"{value:g}"


def number(value: Any, key: str, *, minimum: float | None = None, maximum: float | None = None,
           min_exclusive: bool = False, max_exclusive: bool = False, integer: bool = False,
           expected: str | None = None) -> float | int:
    """A finite int or float (not a bool) within the bounds; ints stay ints, `integer` rejects fractions."""
    kind = "an integer" if integer else "a number"
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if min_exclusive else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"{'<' if max_exclusive else '<='} {maximum:g}")
    what = expected or " ".join([kind] + ([" and ".join(bounds)] if bounds else []))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if integer and not float(value).is_integer():
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if integer:
        value = int(value)
    if minimum is not None and (value < minimum or (min_exclusive and value == minimum)):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if maximum is not None and (value > maximum or (max_exclusive and value == maximum)):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    return value


def integer(value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within the bounds."""
    return int(number(value, key, minimum=minimum, maximum=maximum, integer=True))


def probability(value: Any, key: str, *, allow_one: bool = False) -> float:
    """A probability in [0, 1) (or [0, 1] with `allow_one`)."""
    return float(number(value, key, minimum=0.0, maximum=1.0, max_exclusive=not allow_one,
                        expected=f"a probability in [0, 1{']' if allow_one else ')'}"))


def string(value: Any, key: str, *, allow_empty: bool = False) -> str:
    """A string (non-empty unless `allow_empty`)."""
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise UserError(f"expected a {'' if allow_empty else 'non-empty '}string, got {_shown(value)}", key)
    return value


def boolean(value: Any, key: str) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise UserError(f"expected true or false, got {_shown(value)}", key)
    return value


def choice(value: Any, key: str, choices: Iterable[str]) -> str:
    """One of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise UserError(f"expected one of {', '.join(choices)}, got {_shown(value)}", key)
    return value


def table(value: Any, key: str) -> Mapping[str, Any]:
    """A table (mapping)."""
    if not isinstance(value, Mapping):
        raise UserError(f"expected a table of settings, got {_shown(value)}", key)
    return value


def known_keys(data: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Reject the first key of `data` that is not in `allowed`, listing the allowed ones."""
    allowed = tuple(allowed)
    for k in data:
        if k not in allowed:
            raise UserError(f"unknown key; expected one of {', '.join(allowed)}", join(prefix, k))


def join(prefix: str, key: str | int) -> str:
    """A dotted key: `join('links', 'down')` is `links.down`."""
    return f"{prefix}.{key}" if prefix else str(key)

"""Small typed checks for user input: each failure is one `UserError` naming the key and what was expected.

Used by the network description, the experiment files and the app parameters
(and meant for every command's options). Every function takes the dotted `key`
(or option name) the value came from, returns the value converted, or raises.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping
from typing import Any

from netkit.errors import UserError


def shown_bound(x: float) -> str:
    """A bound as people write it: 86400000, not 8.64e+07; 0.5; 1e+20 only when huge."""
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e18):
        return str(int(x))
    return f"{x:g}"


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, float) else f"{value:g}"
    return text if len(text) <= 40 else text[:37] + "..."


def number(value: Any, key: str, *, minimum: float | None = None, maximum: float | None = None,
           min_exclusive: bool = False, max_exclusive: bool = False, integer: bool = False,
           expected: str | None = None) -> float | int:
    """A finite int or float (not a bool) within the bounds; ints stay ints, `integer` rejects fractions."""
    kind = "an integer" if integer else "a number"
    if minimum is not None and maximum is not None:
        bounds = [f"in {'(' if min_exclusive else '['}{shown_bound(minimum)}, "
                  f"{shown_bound(maximum)}{')' if max_exclusive else ']'}"]
    else:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if min_exclusive else '>='} {shown_bound(minimum)}")
        if maximum is not None:
            bounds.append(f"{'<' if max_exclusive else '<='} {shown_bound(maximum)}")
    what = expected or " ".join([kind] + bounds)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"expected {what}, got {_shown(value)}", key)
    if integer and isinstance(value, float) and not value.is_integer():
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


def _parse_number(text: str, integer: bool) -> Any:
    """The number `text` spells (`1e3` is 1000 for an integer option), else the text itself (refused by `number`)."""
    if integer:
        try:
            return int(text)
        except ValueError:
            pass
    try:
        value = float(text)
    except ValueError:
        return text
    if integer and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


class NumberArg:
    """An argparse `type=` that reads one number and checks it like `number()` (finite, within the bounds).

    The bounds stay readable as attributes, so tests can derive hostile values for every option from the
    parsers. A bad value becomes argparse's one-line `argument --opt: expected ..., got ...` (exit 2).
    """

    def __init__(self, *, integer: bool = False, minimum: float | None = None, maximum: float | None = None,
                 min_exclusive: bool = False, max_exclusive: bool = False, expected: str | None = None) -> None:
        self.integer = integer
        self.minimum = minimum
        self.maximum = maximum
        self.min_exclusive = min_exclusive
        self.max_exclusive = max_exclusive
        if expected is None and minimum is None and maximum is None:
            expected = "a finite integer" if integer else "a finite number"
        self.expected = expected
        self.__name__ = "integer" if integer else "number"  # argparse names the type in some messages

    def check(self, value: Any, key: str = "") -> float | int:
        """`value` (already a number) checked against the bounds; a `UserError` naming `key` otherwise."""
        return number(value, key, minimum=self.minimum, maximum=self.maximum, min_exclusive=self.min_exclusive,
                      max_exclusive=self.max_exclusive, integer=self.integer, expected=self.expected)

    def __call__(self, text: str) -> float | int:
        try:
            return self.check(_parse_number(text, self.integer))
        except UserError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    def __repr__(self) -> str:
        return f"NumberArg(integer={self.integer}, minimum={self.minimum}, maximum={self.maximum})"


def arg_number(minimum: float | None = None, maximum: float | None = None, *, above: float | None = None,
               expected: str | None = None) -> NumberArg:
    """A bounded real option: `type=arg_number(0, 1e4)`; `above=x` means strictly greater than x."""
    if above is not None:
        return NumberArg(minimum=above, maximum=maximum, min_exclusive=True, expected=expected)
    return NumberArg(minimum=minimum, maximum=maximum, expected=expected)


def arg_int(minimum: int | None = None, maximum: int | None = None, *, expected: str | None = None) -> NumberArg:
    """A bounded integer option: `type=arg_int(1, 10_000)`."""
    return NumberArg(integer=True, minimum=minimum, maximum=maximum, expected=expected)


def finite_float(text: str) -> float:
    """argparse `type=float`, refusing NaN and infinities (every float option gets at least this)."""
    return NumberArg()(text)


#: the documented bounds shared by many commands (docs/core.md, "Input limits")
MAX_SEED = 2**63 - 1
MAX_JOBS = 256
MAX_DELAY_MS = 3_600_000.0     # one hour of one-way delay
MAX_DURATION_S = 86_400.0      # one day of emulated or simulated time
MAX_RATE_MBPS = 100_000.0      # 100 Gbit/s
MAX_TRACE_MS = 86_400_000      # a trace's last timestamp: one day
MAX_OPPORTUNITIES = 10_000_000  # delivery opportunities one generated or converted trace may hold
MAX_BURST = 1e6

seed_arg = arg_int(0, MAX_SEED)
jobs_arg = arg_int(1, MAX_JOBS)
delay_arg = arg_number(0, MAX_DELAY_MS, expected=f"a delay in ms >= 0 and <= {shown_bound(MAX_DELAY_MS)}")
probability_arg = NumberArg(minimum=0, maximum=1, max_exclusive=True, expected="a probability in [0, 1)")
duration_arg = arg_number(above=0, maximum=MAX_DURATION_S, expected=f"a duration in seconds > 0 and <= {shown_bound(MAX_DURATION_S)}")
burst_arg = arg_number(1, MAX_BURST, expected=f"a mean burst length >= 1 packet and <= {shown_bound(MAX_BURST)}")
rate_arg = arg_number(above=0, maximum=MAX_RATE_MBPS, expected=f"a rate in Mbit/s > 0 and <= {shown_bound(MAX_RATE_MBPS)}")


class OneLineParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line (`PROG: error: ...`, exit 2) and whose
    `type=float` options refuse NaN and infinities (subparsers inherit both).
    """

    def add_argument(self, *args: Any, **kwargs: Any):  # noqa: D102 - argparse's own
        if kwargs.get("type") is float:
            kwargs["type"] = NumberArg()
        return super().add_argument(*args, **kwargs)

    def error(self, message: str):  # noqa: D102 - argparse's own
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class PathArg:
    """An argparse `type=` for a path option, checked when the command line is read (before anything starts).

    kind `in`: an existing regular file that can be read (content is the reader's to check); `out-file`: a
    file that can be created or replaced; `out-folder`: a folder that can be created (or already exists).
    The text is returned as given. A bad path is argparse's one line `argument --opt: ...` (exit 2).
    """

    KINDS = ("in", "out-file", "out-folder")

    def __init__(self, kind: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"PathArg kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.__name__ = "path"

    def __call__(self, text: str) -> str:
        import os

        from netkit.files import check_writable

        if not text.strip():
            raise argparse.ArgumentTypeError("expected a path, got an empty string")
        if self.kind == "in":
            if not os.path.exists(text):
                raise argparse.ArgumentTypeError(f"no such file {text!r}")
            if os.path.isdir(text):
                raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file")
            if not os.access(text, os.R_OK):
                raise argparse.ArgumentTypeError(f"{text!r} is not readable")
            return text
        try:
            check_writable(text, "", folder=self.kind == "out-folder")
        except UserError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return text

    def __repr__(self) -> str:
        return f"PathArg({self.kind!r})"


in_file = PathArg("in")
out_file = PathArg("out-file")
out_folder = PathArg("out-folder")

"""Mahimahi-format link logs (`mm-link --downlink-log`), readable by mm-throughput-graph."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


class LinkLog:
    """Writes `# ` header lines, then `t + size`, `t - size delay`, `t # 1504` and `t d packets bytes`.

    Times are milliseconds since the start of the run; sizes are bytes as mm-link
    counts them (IP length plus the 4-byte TUN header). Lines go to a temporary
    file that `close()` renames into place, so a crashed run never leaves a log
    that looks complete.
    """

    def __init__(self, path: str | os.PathLike, header: list[str] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._f: IO[str] | None = open(self._tmp, "w", buffering=1 << 20)
        for line in header or []:
            self._f.write(f"# {line}\n")

    def arrival(self, t_ms: int, size: int) -> None:
        """A packet of `size` bytes entered the link."""
        self._f.write(f"{t_ms} + {size}\n")

    def departure(self, t_ms: int, size: int, delay_ms: int) -> None:
        """A packet left the link after `delay_ms` in it."""
        self._f.write(f"{t_ms} - {size} {delay_ms}\n")

    def opportunity(self, t_ms: int, size: int = 1504) -> None:
        """A delivery opportunity of `size` bytes happened."""
        self._f.write(f"{t_ms} # {size}\n")

    def drop(self, t_ms: int, packets: int, nbytes: int) -> None:
        """`packets` packets totalling `nbytes` bytes were dropped."""
        self._f.write(f"{t_ms} d {packets} {nbytes}\n")

    def close(self) -> None:
        """Flush and move the log to its final name."""
        if self._f is not None:
            self._f.close()
            self._f = None
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard the partial log (the run failed); a failing flush (a full disk) does not keep it."""
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            finally:
                self._f = None
                self._tmp.unlink(missing_ok=True)


@contextmanager
def aborted_on_failure(logs: list[LinkLog]) -> Iterator[None]:
    """Abort every log in `logs` (the block may add to it) if the block raises, then re-raise: a set-up that
    fails after opening some logs leaves none of their partial files behind."""
    try:
        yield
    except BaseException:
        for log in logs:
            log.abort()
        raise

"""The one user-error type: bad input from a file, an option or a setting, reported as one line (exit 2).

`UserError` names where the bad value came from (`source`: a file, or an option
such as `--trace`), the dotted key inside it (`links.down.loss`) and what was
expected. It is a `ValueError`, so the CLI's single handler prints it as one
line and exits 2. It sits at the bottom of the layering: trace, link and every
layer above may raise it.
"""
from __future__ import annotations


class UserError(ValueError):
    """Bad user input: `source: key: problem` in one line.

    `source` is a file path or an option name (may be empty), `key` the dotted key
    within it (may be empty), `message` what is wrong and what was expected.
    """

    def __init__(self, message: str, key: str = "", source: str = "") -> None:
        self.message = message
        self.key = key
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        where = ": ".join(p for p in (str(self.source), self.key) if p)
        return f"{where}: {self.message}" if where else self.message

    def within(self, source: str = "", prefix: str = "") -> "UserError":
        """The same error placed inside `source` and under the key `prefix` (for nested validation)."""
        key = ".".join(p for p in (prefix, self.key) if p)
        return UserError(self.message, key, self.source or source)

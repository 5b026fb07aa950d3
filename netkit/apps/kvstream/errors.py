"""Exceptions raised when a KV stream cannot be decoded."""

from __future__ import annotations

__all__ = [
    "KVFormatError",
    "BadMagicError",
    "UnsupportedVersionError",
    "TruncatedError",
    "ChecksumError",
]


class KVFormatError(ValueError):
    """A KV chunk or container is malformed; the message says what is wrong and where."""


class BadMagicError(KVFormatError):
    """The data does not start with the expected magic bytes (not a kvstream chunk/container)."""

    def __init__(self, expected: bytes, found: bytes, what: str = "chunk") -> None:
        super().__init__(f"bad magic for kvstream {what}: expected {expected!r}, found {found!r}")
        self.expected, self.found = expected, found


class UnsupportedVersionError(KVFormatError):
    """The stream was written by a format version this decoder does not know."""

    def __init__(self, version: int, supported: int, what: str = "chunk") -> None:
        super().__init__(f"unsupported kvstream {what} version {version} (this decoder reads version {supported})")
        self.version, self.supported = version, supported


class TruncatedError(KVFormatError):
    """The data ends before the structure it announces is complete."""

    def __init__(self, at: int, needed: int, what: str) -> None:
        super().__init__(f"kvstream data truncated at byte {at}: {what} needs {needed} bytes")
        self.at, self.needed = at, needed


class ChecksumError(KVFormatError):
    """The CRC32 stored in the stream does not match the bytes received."""

    def __init__(self, stored: int, computed: int, what: str) -> None:
        super().__init__(f"kvstream checksum mismatch in {what}: stored {stored:#010x}, computed {computed:#010x}")
        self.stored, self.computed = stored, computed

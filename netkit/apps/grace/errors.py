"""Exceptions of the grace codec: bad packets and bad model files."""
from __future__ import annotations

__all__ = ["GraceError", "PacketError", "PacketTruncated", "PacketCorrupt", "ModelFileError"]


class GraceError(ValueError):
    """Base class: something handed to the grace codec cannot be used; the message says what."""


class PacketError(GraceError):
    """A packet cannot be decoded."""


class PacketTruncated(PacketError):
    """A packet is shorter than its header says (or than a header)."""


class PacketCorrupt(PacketError):
    """A packet's checksum, magic or fields are wrong."""


class ModelFileError(GraceError):
    """A model file is missing, not a grace model, or does not fit; the message names the file."""

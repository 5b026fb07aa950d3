"""Files and folders written atomically that follow the umask like any other file.

`tempfile.mkstemp` creates 0600 files and `tempfile.mkdtemp` 0700 folders whatever
the umask, which is right for a temporary file but wrong for a result renamed into
place: a record must be as readable as a file the user's shell would create.
Every atomic writer stages through these helpers.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read without changing it where Linux tells it, else set and restored)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def follow_umask(path: str | os.PathLike, folder: bool | None = None) -> None:
    """Give `path` the mode a plain `open()`/`mkdir()` would have: 0666 (files) or 0777 (folders) less the umask."""
    p = Path(path)
    is_dir = p.is_dir() if folder is None else folder
    os.chmod(p, (0o777 if is_dir else 0o666) & ~current_umask())


def staging_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new hidden folder in `parent` to build a result in, with the umask's mode (renamed into place later)."""
    stage = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    follow_umask(stage, folder=True)
    return stage


def staging_file(parent: str | os.PathLike, prefix: str, suffix: str = "") -> tuple[int, str]:
    """`tempfile.mkstemp` in `parent`, with the umask's mode: (fd, path)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
    follow_umask(tmp, folder=False)
    return fd, tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place (mode from the umask)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = staging_file(p.parent, f".{p.name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode())


def check_writable(path: str, option: str, folder: bool) -> None:
    """`path` (a folder or a file) can be written: tried for real (what is created for the try is removed)."""
    from netkit.errors import UserError

    if not path.strip():
        raise UserError("expected a path, got an empty string", source=option)
    p = os.path.abspath(path)
    try:
        if folder:
            if os.path.exists(p) and not os.path.isdir(p):
                raise UserError(f"{path} exists and is not a folder", source=option)
            first_missing = p
            while not os.path.exists(os.path.dirname(first_missing)):
                first_missing = os.path.dirname(first_missing)
            created = not os.path.exists(p)
            os.makedirs(p, exist_ok=True)
            try:
                fd, probe = tempfile.mkstemp(dir=p)
                os.close(fd)
                os.unlink(probe)
            finally:
                if created:
                    while True:
                        os.rmdir(p)
                        if p == first_missing:
                            break
                        p = os.path.dirname(p)
        elif os.path.isdir(p):
            raise UserError(f"{path} is a folder; expected a file", source=option)
        elif os.path.exists(p):
            with open(p, "a"):
                pass
        else:
            with open(p, "x"):
                pass
            os.unlink(p)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}", source=option) from None

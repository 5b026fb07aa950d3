"""Results folders that appear only when complete: build in a temporary sibling, then rename."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class OutputDirError(ValueError):
    """The `--out` folder cannot be used (exists and is not a netkit result, or is a file)."""


@contextmanager
def staged_output(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out`, on error it is removed.

    An existing `out` is replaced only with `force` or when it is an earlier netkit
    result (it holds summary.json or results.json), so unrelated files are never lost.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise OutputDirError(f"--out {out}: exists and is not a folder")
        is_result = (out / "summary.json").exists() or (out / "results.json").exists()
        if any(out.iterdir()) and not (force or is_result):
            raise OutputDirError(f"--out {out}: folder exists and is not an earlier netkit result; pass --force or pick another")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write JSON to a temporary name, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(x: object) -> object:
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} as JSON")

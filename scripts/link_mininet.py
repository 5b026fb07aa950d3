"""Make Debian's Mininet package importable from the project's virtual environment.

Mininet is not on PyPI; Debian installs it under /usr/lib/python3/dist-packages.
Adding that whole folder to the venv would shadow pinned packages, so only the
`mininet` package itself is linked into the venv's site-packages.
"""
from __future__ import annotations

import site
import sys
from pathlib import Path

DEBIAN_DIST = Path("/usr/lib/python3/dist-packages")


def main() -> int:
    source = DEBIAN_DIST / "mininet"
    if not source.is_dir():
        print(f"link_mininet: {source} not found (apt-get install mininet); live Mininet tests will be skipped")
        return 0
    target = Path(site.getsitepackages()[0]) / "mininet"
    if target.is_symlink() or target.exists():
        if target.resolve() == source.resolve():
            return 0
        target.unlink()
    target.symlink_to(source, target_is_directory=True)
    print(f"link_mininet: {target} -> {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One seed derivation for every random component, by name: the same in the simulator and the live link."""
from __future__ import annotations

import hashlib


def component_seed(seed: int, name: str) -> int:
    """A 63-bit seed for the component `name` (e.g. `down.loss`, `h2.up.queue`) of a run with `seed`.

    Stable across processes and Python versions (a hash of the text, not `hash()`),
    so the link process and the simulator draw the same numbers.
    """
    digest = hashlib.sha256(f"netkit:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1

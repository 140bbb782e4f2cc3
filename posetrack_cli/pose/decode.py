"""Heatmap decoding as pure torch functions: they run on whatever device the heatmaps live on (GPU included).

The steps of MSPN's test time (MSPN paper section 4.2; megvii-detection/MSPN ``test.py``; MSPN.md section 3):
flip back and average, Gaussian blur (kernel 5 for COCO), arg-max, a quarter-pixel move toward the second-highest
pixel, stride mapping ``x_in = 4 x + 2``, score ``= heatmap value / 255 + 0.5``, inverse affine warp to the frame.
Every step can be switched off (MDPN Table 2 ablation). Shapes: heatmaps (N, K, H, W); points (N, K, 2) as (x, y).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

# cv2.getGaussianKernel(k, sigma <= 0) uses these fixed binomial kernels for k <= 7 (OpenCV smooth.dispatch.cpp
# ``small_gaussian_tab``); megvii's cv2.GaussianBlur((5, 5), 0) therefore blurs with [1, 4, 6, 4, 1] / 16.
_CV2_SMALL_KERNELS = {1: (1.0,), 3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                      7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}
OFFSET_MODES = ("second_max", "gradient")


def _float(t: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 (AMP output) -> float32; float32/float64 unchanged."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def flip_back(heatmaps: torch.Tensor, flip_permutation: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Heatmaps of horizontally mirrored crops -> heatmaps of the crops: mirror along W and swap the left/right
    channels (``flip_permutation`` from ``Skeleton.flip_permutation``)."""
    perm = torch.as_tensor(flip_permutation, dtype=torch.long, device=heatmaps.device)
    return heatmaps.flip(-1).index_select(1, perm)


def gaussian_kernel1d(size: int, sigma: float = 0.0, dtype=torch.float32, device=None) -> torch.Tensor:
    """The 1-D kernel of ``cv2.getGaussianKernel(size, sigma)``, sigma <= 0 meaning OpenCV's default."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"Gaussian kernel size must be odd and positive, got {size}")
    if sigma <= 0 and size in _CV2_SMALL_KERNELS:
        return torch.tensor(_CV2_SMALL_KERNELS[size], dtype=dtype, device=device)
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's default sigma for a given size
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).to(dtype)


def gaussian_blur(heatmaps: torch.Tensor, kernel_size: int = 5) -> torch.Tensor:
    """Separable Gaussian blur of every map with zero padding (megvii pads 10 zero pixels before cv2.GaussianBlur).
    ``kernel_size`` 0 or 1 returns the input."""
    if kernel_size <= 1:
        return heatmaps
    n, k, h, w = heatmaps.shape
    g = gaussian_kernel1d(kernel_size, dtype=heatmaps.dtype, device=heatmaps.device)
    x = heatmaps.reshape(n * k, 1, h, w)
    pad = kernel_size // 2
    x = F.conv2d(F.pad(x, (pad, pad, pad, pad)), g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return x.reshape(n, k, h, w)


def heatmap_argmax(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> integer peak positions (N, K, 2) as float (x, y) and the peak values (N, K); ties: first in raster order."""
    n, k, h, w = heatmaps.shape
    values, index = heatmaps.reshape(n, k, h * w).max(-1)
    xy = torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], -1)
    return xy.to(heatmaps.dtype), values


def quarter_offset(heatmaps: torch.Tensor, xy: torch.Tensor, delta: float = 0.25,
                   mode: str = "second_max") -> torch.Tensor:
    """Move integer peaks ``xy`` by ``delta`` pixels: toward the second-highest pixel of the map (``second_max``,
    megvii/MSPN paper) or per axis toward the higher neighbour (``gradient``, MMPose's megvii codec, interior
    peaks only). Results are clamped to the map."""
    n, k, h, w = heatmaps.shape
    ix, iy = xy[..., 0].long(), xy[..., 1].long()
    flat = heatmaps.reshape(n, k, h * w)
    if mode == "second_max":
        masked = flat.scatter(-1, (iy * w + ix)[..., None], float("-inf"))
        second = masked.argmax(-1)
        d = torch.stack([second % w - ix, torch.div(second, w, rounding_mode="floor") - iy], -1).to(xy.dtype)
        length = d.norm(dim=-1, keepdim=True)
        shift = torch.where(length > 1e-3, delta * d / length.clamp_min(1e-3), torch.zeros_like(d))
    elif mode == "gradient":
        def at(dx: int, dy: int) -> torch.Tensor:
            index = (iy + dy).clamp(0, h - 1) * w + (ix + dx).clamp(0, w - 1)
            return flat.gather(-1, index[..., None])[..., 0]

        grad = torch.stack([at(1, 0) - at(-1, 0), at(0, 1) - at(0, -1)], -1)
        interior = ((ix > 1) & (ix < w - 1) & (iy > 1) & (iy < h - 1))[..., None]  # MMPose's condition
        shift = torch.where(interior, delta * torch.sign(grad), torch.zeros_like(grad)).to(xy.dtype)
    else:
        raise ValueError(f"unknown offset mode {mode!r}: use one of {OFFSET_MODES}")
    out = xy + shift
    return torch.stack([out[..., 0].clamp(0, w - 1), out[..., 1].clamp(0, h - 1)], -1)


def sample_scores(heatmaps: torch.Tensor, xy: torch.Tensor, scale: float = 255.0,
                  offset: float = 0.5) -> torch.Tensor:
    """Keypoint scores: the map value at the rounded position ``/ scale + offset`` (MSPN: /255 + 0.5)."""
    n, k, h, w = heatmaps.shape
    ix = torch.round(xy[..., 0]).long().clamp(0, w - 1)
    iy = torch.round(xy[..., 1]).long().clamp(0, h - 1)
    values = heatmaps.reshape(n, k, h * w).gather(-1, (iy * w + ix)[..., None])[..., 0]
    return values / scale + offset


def heatmap_to_input(xy: torch.Tensor, input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> torch.Tensor:
    """Heatmap pixels -> input-crop pixels: ``x_in = s x + s / 2`` with ``s = input / heatmap`` per axis (4 for
    256x192 -> 64x48; megvii ``4 * x + 2``, MMPose's megvii codec ``(x + 0.5) * 4``). Sizes are (w, h)."""
    stride = torch.tensor([input_size[0] / heatmap_size[0], input_size[1] / heatmap_size[1]],
                          dtype=xy.dtype, device=xy.device)
    return xy * stride + stride / 2


def apply_affine(points: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """(N, K, 2) points with one (N, 2, 3) affine map per instance -> (N, K, 2)."""
    matrices = matrices.to(points.dtype)
    return torch.einsum("nij,nkj->nki", matrices[:, :, :2], points) + matrices[:, None, :, 2]


def decode_heatmaps(heatmaps: torch.Tensor, blur_kernel: int = 5, quarter: bool = True,
                    offset_mode: str = "second_max") -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, H, W) heatmaps (0..255 scale) -> sub-pixel peaks (N, K, 2) in heatmap pixels and scores (N, K).

    Scores are read from the un-blurred maps at the rounded final position (megvii ``test.py``).
    """
    heatmaps = _float(heatmaps)
    blurred = gaussian_blur(heatmaps, blur_kernel)
    xy, _ = heatmap_argmax(blurred)
    if quarter:
        xy = quarter_offset(blurred, xy, mode=offset_mode)
    return xy, sample_scores(heatmaps, xy)


def decode_to_frame(heatmaps: torch.Tensor, inverse_warps: torch.Tensor, input_size: tuple[int, int],
                    blur_kernel: int = 5, quarter: bool = True, offset_mode: str = "second_max") -> torch.Tensor:
    """Heatmaps of N crops and their crop -> frame maps (N, 2, 3) -> keypoints (N, K, 3): x, y in frame pixels and
    score. ``input_size`` is the network input (w, h)."""
    heatmaps = _float(heatmaps)
    xy, scores = decode_heatmaps(heatmaps, blur_kernel, quarter, offset_mode)
    xy_in = heatmap_to_input(xy, input_size, (heatmaps.shape[-1], heatmaps.shape[-2]))
    frame_xy = apply_affine(xy_in, torch.as_tensor(inverse_warps, device=heatmaps.device))
    return torch.cat([frame_xy, scores[..., None]], -1)

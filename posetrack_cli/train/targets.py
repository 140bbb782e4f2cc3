"""Heatmap targets and keypoint weights from crop-space keypoints.

MSPN (coarse-to-fine supervision, MSPN paper 3.3; megvii ``generate_heatmap`` and MMPose ``MegviiHeatmap``): a single 1
at ``(floor(x / stride), floor(y / stride))``, ``cv2.GaussianBlur((k, k), 0)`` (OpenCV's sigma rule and border), then
scaled so the peak is 255. Kernels per unit coarse -> fine: [15, 11, 9, 7] for every non-final stage, [11, 9, 7, 5]
for the final one (MSPN.md section 2). Only the distinct kernels are rendered; ``kernel_table`` says which map each
(stage, unit) is trained on.

MDPN: an unnormalised Gaussian ``peak * exp(-d^2 / (2 sigma^2))`` around the same cell (MDPN paper 2.2: "sigma 9").
The decoder maps cell x back to ``4 x + 2`` input px, so both target kinds put the peak on the cell the keypoint is in.

Keypoint weight (the mask): 1 where the joint is annotated (visibility > 0) and its cell lies inside the heatmap,
else 0 (MMPose convention; see losses.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from posetrack_cli.train.config import TargetConfig

MAX_CV_CHANNELS = 128  # cv2.GaussianBlur rejects images with more channels (OpenCV 5.0)


def mspn_kernels(num_stages: int, cfg: TargetConfig) -> list[tuple[int, ...]]:
    """Kernel sizes per stage, each coarse -> fine: non-final stages ``kernels_early``, the final ``kernels_last``."""
    return [tuple(cfg.kernels_early)] * (num_stages - 1) + [tuple(cfg.kernels_last)]


def kernel_table(per_stage: list[tuple[int, ...]]) -> tuple[tuple[int, ...], list[list[int]]]:
    """Distinct kernels (largest first) and, per stage and unit, the index of the target map to use."""
    distinct = tuple(sorted({k for stage in per_stage for k in stage}, reverse=True))
    return distinct, [[distinct.index(k) for k in stage] for stage in per_stage]


def heatmap_cells(keypoints_crop: np.ndarray, input_size: tuple[int, int],
                  heatmap_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) crop px + visibility -> integer cells (K, 2) and weights (K,) float32 (annotated and inside)."""
    stride = np.array([input_size[0] / heatmap_size[0], input_size[1] / heatmap_size[1]])
    cells = np.floor(np.asarray(keypoints_crop, np.float64)[:, :2] / stride).astype(np.int64)
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < heatmap_size[0]) & (cells[:, 1] >= 0) & (cells[:, 1] < heatmap_size[1])
    weights = (inside & (np.asarray(keypoints_crop)[:, 2] > 0)).astype(np.float32)
    return cells, weights


def blurred_point_targets(cells: np.ndarray, weights: np.ndarray, heatmap_size: tuple[int, int],
                          kernels: tuple[int, ...], peak: float = 255.0) -> np.ndarray:
    """MSPN targets: (len(kernels), K, h, w) float32; channels with weight 0 stay all zero."""
    w, h = heatmap_size
    k = len(cells)
    out = np.zeros((len(kernels), k, h, w), np.float32)
    on = np.flatnonzero(weights > 0)
    if len(on) == 0:
        return out
    points = np.zeros((h, w, len(on)), np.float32)
    points[cells[on, 1], cells[on, 0], np.arange(len(on))] = 1.0
    for i, size in enumerate(kernels):
        # One call blurs many joints: OpenCV filters each channel on its own (at most 128 channels in OpenCV 5).
        blurred = np.concatenate([cv2.GaussianBlur(points[:, :, c:c + MAX_CV_CHANNELS], (size, size), 0)
                                  .reshape(h, w, -1) for c in range(0, len(on), MAX_CV_CHANNELS)], axis=2)
        at_point = blurred[cells[on, 1], cells[on, 0], np.arange(len(on))]
        out[i, on] = (blurred * (peak / at_point)).transpose(2, 0, 1)
    return out


def gaussian_targets(cells: np.ndarray, weights: np.ndarray, heatmap_size: tuple[int, int], sigma: float,
                     peak: float = 255.0) -> np.ndarray:
    """MDPN targets: (1, K, h, w) float32, ``peak * exp(-d^2 / (2 sigma^2))`` around each cell; zero where w = 0."""
    w, h = heatmap_size
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    cx = cells[:, 0].astype(np.float64)[:, None, None]
    cy = cells[:, 1].astype(np.float64)[:, None, None]
    maps = peak * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2.0 * sigma**2))
    return (maps * (weights > 0)[:, None, None]).astype(np.float32)[None]


class TargetBuilder:
    """Crop keypoints -> (targets (M, K, h, w), weights (K,)) for one model; ``table[s][u]`` picks the map of
    stage s, unit u (MSPN); MDPN has one map (M = 1) used by every output."""

    def __init__(self, cfg: TargetConfig, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 num_stages: int = 1):
        self.cfg, self.input_size, self.heatmap_size = cfg, tuple(input_size), tuple(heatmap_size)
        if cfg.kind == "mspn":
            self.kernels, self.table = kernel_table(mspn_kernels(num_stages, cfg))
        else:
            self.kernels, self.table = (), [[0]]

    @property
    def num_maps(self) -> int:
        return max(len(self.kernels), 1)

    def __call__(self, keypoints_crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cells, weights = heatmap_cells(keypoints_crop, self.input_size, self.heatmap_size)
        if self.cfg.kind == "mspn":
            return blurred_point_targets(cells, weights, self.heatmap_size, self.kernels, self.cfg.peak), weights
        return gaussian_targets(cells, weights, self.heatmap_size, self.cfg.sigma, self.cfg.peak), weights

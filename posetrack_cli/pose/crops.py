"""Affine person crops: box -> (centre, size) -> 2x3 ``warp`` (frame -> crop) and ``inverse_warp`` (crop -> frame).

The crop geometry of the top-down code bases (MMPose ``bbox_xyxy2cs`` + ``get_warp_matrix`` without UDP): the box is
grown to the crop's aspect ratio around its centre, enlarged by ``padding`` (1.25), and mapped so that its centre lands
on the crop centre. Sizes are plain pixels (no 200-px scale units).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from posetrack_cli.records import Detections


def box_to_center_size(boxes_xyxy: np.ndarray, aspect_ratio: float, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy -> centres (N, 2) and crop sizes (N, 2) as (w, h) in frame pixels.

    The box is grown (never shrunk) to ``w / h == aspect_ratio`` and then scaled by ``padding``.
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    centers = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    w = np.clip(boxes[:, 2] - boxes[:, 0], 1e-3, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 1e-3, None)
    too_wide = w > aspect_ratio * h
    h = np.where(too_wide, w / aspect_ratio, h)
    w = np.where(too_wide, w, h * aspect_ratio)
    sizes = np.stack([w, h], axis=1) * padding
    return centers, sizes


def crop_warps(
    centers: np.ndarray,
    sizes: np.ndarray,
    out_size: tuple[int, int],
    rotations_deg: np.ndarray | None = None,
    flip: np.ndarray | None = None,
) -> np.ndarray:
    """2x3 affine matrices (N, 2, 3) mapping frame pixels into an ``out_size = (w, h)`` crop.

    The crop width spans ``sizes[:, 0]`` frame pixels; ``rotations_deg`` turns the content counter-clockwise in the
    crop (training augmentation); ``flip`` (bool per crop) mirrors the crop horizontally.
    """
    centers = np.asarray(centers, np.float64).reshape(-1, 2)
    n = len(centers)
    scale = out_size[0] / np.asarray(sizes, np.float64).reshape(-1, 2)[:, 0]
    theta = np.deg2rad(np.zeros(n) if rotations_deg is None else np.asarray(rotations_deg, np.float64))
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    # Rotation by -theta in image coordinates (y down) turns the content counter-clockwise on screen.
    linear = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)  # (N, 2, 2)
    if flip is not None:
        linear[np.asarray(flip, bool), 0, :] *= -1.0
    half = np.array([out_size[0] / 2.0, out_size[1] / 2.0])
    shift = half[None, :] - np.einsum("nij,nj->ni", linear, centers)
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def invert_warps(warps: np.ndarray) -> np.ndarray:
    """(N, 2, 3) -> the inverse affine maps (N, 2, 3)."""
    warps = np.asarray(warps, np.float64).reshape(-1, 2, 3)
    linear_inv = np.linalg.inv(warps[:, :, :2])
    shift = -np.einsum("nij,nj->ni", linear_inv, warps[:, :, 2])
    return np.concatenate([linear_inv, shift[:, :, None]], axis=2)


def transform_points(points_xy: np.ndarray, warps: np.ndarray) -> np.ndarray:
    """Apply one 2x3 map per instance: points (N, K, 2) with warps (N, 2, 3) -> (N, K, 2)."""
    pts = np.asarray(points_xy, np.float64)
    warps = np.asarray(warps, np.float64)
    return np.einsum("nij,nkj->nki", warps[:, :, :2], pts) + warps[:, None, :, 2]


def crop_images(frame: np.ndarray, warps: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Warp every crop of one frame: (H, W, C) uint8 with (N, 2, 3) -> (N, h, w, C) uint8 (bilinear, zero border)."""
    h, w = out_size[1], out_size[0]
    out = np.zeros((len(warps), h, w, frame.shape[2]), frame.dtype)
    for i, warp in enumerate(warps):
        out[i] = cv2.warpAffine(frame, warp.astype(np.float64), (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def crop_batch(frames: Sequence[np.ndarray], detections: Sequence[Detections], aspect_ratio: float, padding: float,
               out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The "prepare" step of every top-down estimator: all person crops of all frames, (N, h, w, 3) BGR uint8 in
    frame order, and their frame -> crop ``warp`` matrices (N, 2, 3)."""
    crops = [np.zeros((0, out_size[1], out_size[0], 3), np.uint8)]
    warps = [np.zeros((0, 2, 3))]
    for frame, dets in zip(frames, detections):
        if len(dets) == 0:
            continue
        centers, sizes = box_to_center_size(dets.boxes_xyxy, aspect_ratio, padding)
        warp = crop_warps(centers, sizes, out_size)
        warps.append(warp)
        crops.append(crop_images(frame, warp, out_size))
    return np.concatenate(crops), np.concatenate(warps)

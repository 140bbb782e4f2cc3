"""Training augmentation as one affine map per person: box -> (centre, size) -> random half-body crop, scale,
rotation and flip -> one 2x3 ``warp`` applied to the image and to the keypoints alike, so they stay exact.

Values (MSPN paper 4.2): scale 0.7-1.35, rotation +-45 deg, flip, half-body crops of people with more than 8
annotated joints (upper or lower half with equal chance). Probabilities and the half-box extension follow the megvii
MSPN code (rotation 0.5, flip 0.5, half body 0.3, half box w x (1 + U*0.6), h x (1 + U*0.8)); see AugmentConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posetrack_cli.pose.crops import box_to_center_size, crop_images, crop_warps, transform_points
from posetrack_cli.records import Skeleton
from posetrack_cli.train.config import AugmentConfig

# MMPose checkpoints expect RGB normalised with the ImageNet statistics on the 0-255 scale (MSPN.md section 3);
# training uses the same so that checkpoints load straight into ``posetrack run --pose-weights``.
PIXEL_MEAN_RGB = np.array([123.675, 116.28, 103.53], np.float32)
PIXEL_STD_RGB = np.array([58.395, 57.12, 57.375], np.float32)
LOWER_BODY_WORDS = ("hip", "knee", "ankle", "pelvis")


@dataclass(frozen=True)
class CropParams:
    """Where one training crop comes from."""

    center: np.ndarray  # (2,) frame pixels
    size: np.ndarray  # (2,) (w, h) frame pixels covered by the crop, aspect = input w / h
    rotation_deg: float = 0.0  # content turned counter-clockwise in the crop
    flip: bool = False  # crop mirrored horizontally (left/right keypoints swapped)


def body_halves(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the upper and lower body joints, by name (hips, knees, ankles, pelvis are the lower half)."""
    lower = np.array([any(w in n for w in LOWER_BODY_WORDS) for n in skeleton.keypoints])
    return np.flatnonzero(~lower), np.flatnonzero(lower)


def half_body_box(keypoints: np.ndarray, skeleton: Skeleton, rng: np.random.Generator,
                  extend: tuple[float, float], min_joints: int = 3) -> np.ndarray | None:
    """A box (4,) xyxy around the annotated joints of the upper or lower half (equal chance among the halves with
    at least ``min_joints`` annotated joints), grown by (1 + U*extend) in w and h; None when no half qualifies."""
    annotated = keypoints[:, 2] > 0
    halves = [idx[annotated[idx]] for idx in body_halves(skeleton)]
    halves = [h for h in halves if len(h) >= min_joints]
    if not halves:
        return None
    chosen = halves[int(rng.integers(len(halves)))]
    pts = keypoints[chosen, :2].astype(np.float64)
    lo, hi = pts.min(0), pts.max(0)
    center = (lo + hi) / 2.0
    w = max(hi[0] - lo[0], 1.0) * (1.0 + rng.random() * extend[0])
    h = max(hi[1] - lo[1], 1.0) * (1.0 + rng.random() * extend[1])
    return np.array([center[0] - w / 2, center[1] - h / 2, center[0] + w / 2, center[1] + h / 2])


def eval_crop(box_xyxy: np.ndarray, input_size: tuple[int, int], padding: float) -> CropParams:
    """The test-time crop: the box fitted to the input aspect and padded (pose/crops.py geometry)."""
    centers, sizes = box_to_center_size(np.asarray(box_xyxy)[None], input_size[0] / input_size[1], padding)
    return CropParams(centers[0], sizes[0])


def random_crop(box_xyxy: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton, cfg: AugmentConfig,
                input_size: tuple[int, int], rng: np.random.Generator) -> CropParams:
    """Draw one training crop: optional half-body box, then scale, rotation and flip."""
    aspect = input_size[0] / input_size[1]
    base = eval_crop(box_xyxy, input_size, cfg.padding)
    if (keypoints[:, 2] > 0).sum() > cfg.half_body_min_joints and rng.random() < cfg.half_body_prob:
        half = half_body_box(keypoints, skeleton, rng, cfg.half_body_extend)
        if half is not None:
            centers, sizes = box_to_center_size(half[None], aspect, 1.0)  # already extended: no extra padding
            base = CropParams(centers[0], sizes[0])
    scale = rng.uniform(cfg.scale[0], cfg.scale[1])
    rotation = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg) if rng.random() < cfg.rotation_prob else 0.0
    flip = bool(rng.random() < cfg.flip_prob)
    return CropParams(base.center, base.size * scale, float(rotation), flip)


def crop_warp(params: CropParams, input_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) map frame -> crop for these parameters."""
    return crop_warps(params.center[None], params.size[None], input_size, np.array([params.rotation_deg]),
                      np.array([params.flip]))[0]


def warp_person(image_bgr: np.ndarray, keypoints: np.ndarray, params: CropParams, skeleton: Skeleton,
                input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One affine for image and keypoints.

    image (H, W, 3) uint8 BGR, keypoints (K, 3) frame px + visibility -> crop (h, w, 3) uint8 RGB, keypoints (K, 3)
    in crop pixels (flipped crops get the left/right labels swapped, so channel k is still joint k), warp (2, 3).
    """
    warp = crop_warp(params, input_size)
    crop = crop_images(image_bgr, warp[None], input_size)[0][:, :, ::-1]
    kps = np.asarray(keypoints, np.float64).copy()
    kps[:, :2] = transform_points(kps[None, :, :2], warp[None])[0]
    if params.flip:
        kps = kps[skeleton.flip_permutation()]
    return np.ascontiguousarray(crop), kps.astype(np.float32), warp


def normalise(crop_rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB -> (3, h, w) float32 normalised with the ImageNet statistics."""
    return np.ascontiguousarray(((crop_rgb.astype(np.float32) - PIXEL_MEAN_RGB) / PIXEL_STD_RGB).transpose(2, 0, 1))

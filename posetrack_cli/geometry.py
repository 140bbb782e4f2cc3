"""Geometry shared by the stages: box IoU, greedy NMS, object keypoint similarity (OKS) and OKS-NMS.

Boxes are xyxy float arrays in original-frame pixels.

Object keypoint similarity (OKS) and OKS-based non-maximum suppression.

OKS follows the COCO definition (pycocotools ``computeOks``) as the top-down code bases use it for NMS and tracking
(Simple Baselines ``oks_iou``): ``exp(-d^2 / (2 * s^2 * k^2))`` with ``k = 2 * sigma`` and ``s^2`` the mean of the
two instances' areas, averaged over the keypoints that pass the visibility threshold.
"""

from __future__ import annotations

import numpy as np

_EPS = np.spacing(1)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy -> (N, M)."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0.0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of kept boxes, highest score first. A box is dropped when its IoU with a kept,
    higher-scoring box exceeds ``iou_threshold``."""
    return greedy_suppress(iou_matrix(boxes_xyxy, boxes_xyxy), scores, iou_threshold)


def greedy_suppress(similarity: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Shared core of NMS and OKS-NMS: visit by descending score, keep an item unless its similarity to an
    already kept item exceeds ``threshold``. Returns kept indices, highest score first."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= similarity[i] > threshold
    return np.asarray(keep, np.int64)



def box_areas(boxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) areas (w * h, clipped at 0); the OKS scale of a detected person."""
    wh = np.clip(boxes_xyxy[:, 2:4] - boxes_xyxy[:, 0:2], 0.0, None)
    return (wh[:, 0] * wh[:, 1]).astype(np.float64)


def oks_matrix(
    keypoints_a: np.ndarray,
    keypoints_b: np.ndarray,
    areas_a: np.ndarray,
    areas_b: np.ndarray,
    sigmas,
    visibility_threshold: float | None = None,
) -> np.ndarray:
    """OKS between every pose of ``a`` (N, K, 3) and every pose of ``b`` (M, K, 3) -> (N, M) in [0, 1].

    ``visibility_threshold``: when set, only keypoints whose score exceeds it in *both* poses count; a pair with no
    such keypoint has OKS 0. When None every keypoint counts (the OKS-NMS of Simple Baselines / MSPN).
    """
    a = np.asarray(keypoints_a, np.float64)
    b = np.asarray(keypoints_b, np.float64)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2  # (K,)
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # (N, M, K)
    scale = (np.asarray(areas_a, np.float64)[:, None] + np.asarray(areas_b, np.float64)[None, :]) / 2.0 + _EPS
    e = np.exp(-d2 / var / scale[..., None] / 2.0)
    if visibility_threshold is None:
        return e.mean(-1)
    valid = (a[:, None, :, 2] > visibility_threshold) & (b[None, :, :, 2] > visibility_threshold)
    count = valid.sum(-1)
    return np.where(count > 0, (e * valid).sum(-1) / np.maximum(count, 1), 0.0)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas,
    threshold: float = 0.4,
    visibility_threshold: float | None = None,
) -> np.ndarray:
    """Greedy OKS-NMS: indices of the kept poses, highest score first.

    A pose is suppressed when its OKS with a kept, higher-scoring pose exceeds ``threshold`` (MDPN uses 0.4;
    raising it keeps more overlapping poses).
    """
    sim = oks_matrix(keypoints, keypoints, areas, areas, sigmas, visibility_threshold)
    return greedy_suppress(sim, scores, threshold)

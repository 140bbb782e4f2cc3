"""Box IoU and greedy NMS on xyxy boxes: the fusion step of the detector ensemble."""

from __future__ import annotations

import numpy as np


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

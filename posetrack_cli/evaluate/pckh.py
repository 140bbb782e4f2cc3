"""MPII PCKh as the MPII protocol computes it (the ``evalMPII`` / top-down ``mpii.evaluate`` code):

head size = SC_BIAS 0.6 x head-box diagonal; a visible joint is correct when its distance to the GT divided by the
head size is <= the threshold (0.5); per-joint PCKh in percent over visible joints; the mean weights joints by their
visible counts and leaves out pelvis and thorax (MPII indices 6, 7); Head is head_top (index 9).
"""

from __future__ import annotations

import numpy as np

from posetrack_cli.records import MPII16

SC_BIAS = 0.6  # MPII: head size = 0.6 x diagonal of the head rectangle
MEAN_EXCLUDED = (6, 7)  # pelvis, thorax: left out of the MPII mean
# Printed groups of the MPII table (index = MPII16 joint order).
GROUPS = (("Head", (9,)), ("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)), ("Hip", (2, 3)),
          ("Knee", (1, 4)), ("Ankle", (0, 5)))


def head_sizes_from_boxes(head_boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 or (N, 2, 2) corners -> (N,) SC_BIAS x diagonal."""
    b = np.asarray(head_boxes, np.float64).reshape(-1, 4)
    return SC_BIAS * np.linalg.norm(b[:, 2:4] - b[:, 0:2], axis=1)


def pckh(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, head, threshold: float = 0.5) -> dict:
    """PCKh of ``pred`` (N, 16, 2) against ``gt`` (N, 16, 2) over ``visible`` (N, 16) joints.

    ``head``: head boxes (N, 4) / (N, 2, 2), or head sizes (N,) already scaled by SC_BIAS.
    Returns {"per_joint": {name: %}, "groups": {Head ... Ankle: %}, "mean": %, "count": {name: n}}; a joint never
    visible has PCKh NaN and weight 0.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    vis = np.asarray(visible, bool)
    head = np.asarray(head, np.float64)
    sizes = head if head.ndim == 1 else head_sizes_from_boxes(head)
    if pred.shape != gt.shape or pred.shape[1:] != (16, 2) or vis.shape != pred.shape[:2] or len(sizes) != len(pred):
        raise ValueError(f"pckh: pred {pred.shape}, gt {gt.shape}, visible {vis.shape}, head {head.shape} "
                         "do not describe the same N x 16 joints")
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.linalg.norm(pred - gt, axis=2) / sizes[:, None]
    correct = (err <= threshold) & vis
    count = vis.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_joint = 100.0 * correct.sum(0) / count
    weight = count.astype(np.float64)
    weight[list(MEAN_EXCLUDED)] = 0.0
    used = weight > 0
    mean = float(np.sum(per_joint[used] * weight[used]) / weight.sum()) if weight.sum() > 0 else float("nan")
    names = MPII16.keypoints
    return {
        "per_joint": {n: float(v) for n, v in zip(names, per_joint)},
        "groups": {g: float(np.mean(per_joint[list(idx)])) for g, idx in GROUPS},
        "mean": mean,
        "count": {n: int(c) for n, c in zip(names, count)},
        "threshold": threshold,
    }

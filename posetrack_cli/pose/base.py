"""The top-down pose estimator protocol and the instance re-scoring shared by every estimator."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from posetrack_cli.records import Detections, Poses, Skeleton


class PoseEstimator(Protocol):
    """Frames plus their person boxes -> one ``Poses`` per frame (keypoints in frame pixels).

    All crops of all given frames go through the network together (batched); ``Poses.boxes_xyxy`` equal the input
    boxes row for row and ``Poses.box_scores`` the input scores.
    """

    name: str  # what ran, recorded in the output JSON (e.g. "mspn-2x50-coco", "yolo-crop")
    skeleton: Skeleton

    def estimate(self, frames: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[Poses]: ...


def rescore(box_scores: np.ndarray, keypoint_scores: np.ndarray, keypoint_threshold: float = 0.2) -> np.ndarray:
    """Instance score = box score x mean score of the keypoints above ``keypoint_threshold`` (MSPN/MMPose).

    (N,), (N, K) -> (N,). A pose with no keypoint above the threshold scores 0.
    """
    kp = np.asarray(keypoint_scores, np.float64)
    valid = kp > keypoint_threshold
    count = valid.sum(1)
    mean = np.where(count > 0, (kp * valid).sum(1) / np.maximum(count, 1), 0.0)
    return (np.asarray(box_scores, np.float64) * mean).astype(np.float32)

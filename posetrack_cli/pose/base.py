"""The top-down pose estimator protocol and the steps every estimator shares.

An estimator runs three steps: prepare (``crops.crop_batch``: all person crops of all frames), infer (its network,
on one of its runtimes: crops -> keypoints in frame pixels) and finish (``poses_per_frame``: re-scoring and one
``Poses`` per frame)."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from posetrack_cli.config import PoseConfig
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


def poses_per_frame(detections: Sequence[Detections], keypoints: np.ndarray, skeleton: Skeleton, config: PoseConfig,
                    rescored_joints: int) -> list[tuple[Poses, np.ndarray]]:
    """The "finish" step: keypoints (N, K + E, 3) in frame pixels, rows in the order of the boxes of all frames ->
    per frame, its ``Poses`` (the first K = ``skeleton`` joints, re-scored over the first ``rescored_joints`` when
    ``config.rescore``) and its (n, E, 3) extra joints."""
    out, start, k = [], 0, skeleton.num_keypoints
    for dets in detections:
        rows = keypoints[start:start + len(dets)]
        start += len(dets)
        scores = (rescore(dets.scores, rows[:, :rescored_joints, 2], config.rescore_keypoint_threshold)
                  if config.rescore else dets.scores)
        out.append((Poses(dets.boxes_xyxy, dets.scores, rows[:, :k], scores, skeleton), rows[:, k:]))
    return out

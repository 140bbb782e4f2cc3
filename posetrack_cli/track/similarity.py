"""How alike a new pose and a remembered one are, chosen by name (``TrackConfig.similarity``).

A similarity maps the poses of the current frame and the remembered poses (already moved into the current frame by
the propagator) to an (N, M) matrix in [0, 1]; ``TrackConfig.min_similarity`` then gates the matches. Adding one is
a function here and an entry in ``SIMILARITIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from posetrack_cli.geometry import iou_matrix, oks_matrix


@dataclass(frozen=True)
class PoseSet:
    """Poses as the similarities see them."""

    keypoints: np.ndarray  # (N, K, 3) float, x/y in current-frame pixels, score
    areas: np.ndarray  # (N,) float64, the OKS scale of each pose (its box area)
    boxes_xyxy: np.ndarray  # (N, 4) float, in current-frame pixels


def oks(new: PoseSet, old: PoseSet, sigmas: np.ndarray, keypoint_threshold: float) -> np.ndarray:
    """Object keypoint similarity (MDPN 2.3): joints under ``keypoint_threshold`` do not count."""
    return oks_matrix(new.keypoints, old.keypoints, new.areas, old.areas, sigmas, keypoint_threshold)


def iou(new: PoseSet, old: PoseSet, sigmas: np.ndarray, keypoint_threshold: float) -> np.ndarray:
    """Box IoU (the SORT / ByteTrack cue): blind to the pose, robust where keypoints are unreliable."""
    return iou_matrix(new.boxes_xyxy, old.boxes_xyxy)


Similarity = Callable[[PoseSet, PoseSet, np.ndarray, float], np.ndarray]
SIMILARITIES: dict[str, Similarity] = {"oks": oks, "iou": iou}

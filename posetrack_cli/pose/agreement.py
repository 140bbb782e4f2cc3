"""How well a reduced-precision path's keypoints agree with float32's for the same people: mean OKS, mean score
difference, and whether the output collapsed. Collapsed output is what a broken kernel gives (every keypoint with one
score, every keypoint of a person on one point: ONNX Runtime's int8 convolutions saturating on a CPU without VNNI);
its positions can still be close to float32's when float32's keypoints are close together, so the OKS alone does not
catch it. Used by the int8 runtime's check after calibration (``pose.onnx_runtime``) and by
benchmarks/bench_agreement.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from posetrack_cli.geometry import oks_matrix

SCORE_SPREAD = 0.01  # a reference whose scores span less than this (max - min) cannot show collapsed scores
FLAT_SCORES = 1e-4  # candidate scores spanning less than this, where the reference's span SCORE_SPREAD, collapsed
POSE_SPREAD = 0.1  # a reference pose spans at least this fraction of the box size (sqrt of its area) to count
ONE_POINT = 0.01  # candidate keypoints all within this fraction of the box size of their centre: one point


@dataclass(frozen=True)
class Agreement:
    mean_oks: float  # mean over people of the OKS between the two keypoint sets (every keypoint counts), 0..1
    score_error: float  # mean absolute keypoint-score difference
    collapse: str  # "" or why the candidate's output collapsed ("non-finite keypoints", "constant scores", ...)

    def failures(self, min_oks: float, max_score_error: float) -> list[str]:
        """What fails the given limits, as short phrases (empty when the candidate passes)."""
        out = [self.collapse] if self.collapse else []
        if not self.mean_oks >= min_oks:  # NaN fails
            out.append(f"mean OKS {self.mean_oks:.3f} < {min_oks}")
        if not self.score_error <= max_score_error:
            out.append(f"mean score difference {self.score_error:.3f} > {max_score_error}")
        return out


def collapse(reference: np.ndarray, candidate: np.ndarray, areas: np.ndarray) -> str:
    """Why ``candidate`` (N, K, 3: x, y, score) collapsed where ``reference`` (the same people) did not, or "".
    ``areas`` (N,): each person's area, whose square root is the box size."""
    if not np.isfinite(candidate).all():
        return "non-finite keypoints"
    if len(candidate) == 0:
        return ""
    ref_scores, scores = reference[..., 2], candidate[..., 2]
    if np.ptp(ref_scores) >= SCORE_SPREAD and np.ptp(scores) < FLAT_SCORES:
        return f"every keypoint has the score {scores.flat[0]:.4f}"
    size = np.sqrt(np.maximum(np.asarray(areas, np.float64), 1e-12))

    def spread(kp: np.ndarray) -> np.ndarray:  # (N,): farthest keypoint from the pose's centre / box size
        xy = kp[..., :2].astype(np.float64)
        return np.linalg.norm(xy - xy.mean(1, keepdims=True), axis=-1).max(1) / size

    spread_out = spread(reference) >= POSE_SPREAD
    if spread_out.any() and (spread(candidate)[spread_out] < ONE_POINT).all():
        return "all keypoints of each person on one point"
    return ""


def keypoint_agreement(reference: np.ndarray, candidate: np.ndarray, areas: np.ndarray,
                       sigmas: Sequence[float]) -> Agreement:
    """``candidate`` (N, K, 3) against ``reference`` (N, K, 3), the same N people in the same order; ``areas`` (N,)
    their OKS areas, ``sigmas`` (K,) the skeleton's OKS sigmas."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if reference.shape != candidate.shape:
        raise ValueError(f"keypoints of shapes {reference.shape} and {candidate.shape} cannot be compared")
    areas = np.asarray(areas, np.float64)
    if len(reference) == 0:
        return Agreement(float("nan"), float("nan"), "")
    oks = np.diag(oks_matrix(reference, candidate, areas, areas, sigmas))
    score_error = float(np.abs(reference[..., 2].astype(np.float64) - candidate[..., 2]).mean())
    return Agreement(float(oks.mean()), score_error, collapse(reference, candidate, areas))

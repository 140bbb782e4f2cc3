import math

import numpy as np
import pytest

from posetrack_cli.geometry import box_areas, oks_matrix, oks_nms
from posetrack_cli.pose.base import rescore


def _pose(points, score=1.0):
    p = np.zeros((len(points), 3))
    p[:, :2] = points
    p[:, 2] = score
    return p


def test_oks_hand_computed_two_keypoints():
    sigmas = [0.1, 0.05]
    a = _pose([[0, 0], [10, 0]])[None]
    b = _pose([[3, 4], [10, 0]])[None]  # first keypoint 5 px away, second identical
    area = 100.0
    # e_0 = exp(-25 / (2 * area * (2 * 0.1)^2)) = exp(-25 / 8) ; e_1 = 1
    expected = (math.exp(-25 / (2 * 100 * 0.04)) + 1.0) / 2
    assert oks_matrix(a, b, [area], [area], sigmas)[0, 0] == pytest.approx(expected)


def test_oks_visibility_threshold_counts_only_confident_keypoints():
    sigmas = [0.1, 0.1]
    a = _pose([[0, 0], [0, 0]])
    a[1, 2] = 0.1  # second keypoint is unreliable
    b = _pose([[0, 0], [100, 100]])
    full = oks_matrix(a[None], b[None], [50], [50], sigmas)[0, 0]
    masked = oks_matrix(a[None], b[None], [50], [50], sigmas, visibility_threshold=0.3)[0, 0]
    assert masked == pytest.approx(1.0)
    assert full == pytest.approx(0.5, abs=1e-6)
    none_valid = oks_matrix(a[None] * [1, 1, 0], b[None], [50], [50], sigmas, visibility_threshold=0.3)
    assert none_valid[0, 0] == 0.0


def test_box_areas():
    np.testing.assert_allclose(box_areas(np.array([[0, 0, 4, 5], [3, 3, 1, 1]])), [20, 0])


def test_oks_nms_suppresses_duplicates_not_neighbours():
    sigmas = [0.1] * 3
    base = np.array([[0, 0], [10, 0], [0, 10]], float)
    poses = np.stack([_pose(base), _pose(base + 0.5), _pose(base + 200)])
    areas = np.array([400.0, 400.0, 400.0])
    keep = oks_nms(poses, np.array([0.8, 0.9, 0.7]), areas, sigmas, threshold=0.4)
    # pose 1 (0.9) is kept first; pose 0 is a near duplicate (OKS ~0.99) and goes; pose 2 is far away and stays.
    assert keep.tolist() == [1, 2]


def test_rescore_box_times_mean_confident_keypoints():
    scores = rescore(np.array([0.5, 1.0]), np.array([[0.9, 0.7, 0.1], [0.1, 0.0, 0.15]]), 0.2)
    np.testing.assert_allclose(scores, [0.5 * 0.8, 0.0])

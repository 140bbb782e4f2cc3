"""Keypoint agreement of a reduced-precision path with float32: OKS, score difference, collapsed output."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posetrack_cli.pose.agreement import collapse, keypoint_agreement

SIGMAS = (0.05, 0.1, 0.1)
AREA = 100.0  # box size 10 px
POSE = np.array([[[10.0, 10.0, 0.9], [14.0, 10.0, 0.6], [12.0, 16.0, 0.4]],
                 [[40.0, 40.0, 0.8], [45.0, 42.0, 0.7], [41.0, 47.0, 0.3]]], np.float32)  # (2 people, 3 kps, 3)


def agreement(candidate, reference=POSE):
    return keypoint_agreement(reference, candidate, np.full(len(reference), AREA), SIGMAS)


def test_identical_keypoints_agree_fully():
    a = agreement(POSE.copy())
    assert (a.mean_oks, a.score_error, a.collapse) == (1.0, 0.0, "")
    assert a.failures(0.85, 0.05) == []


def test_oks_and_score_difference_are_the_cocoeval_formulas():
    moved = POSE.copy()
    moved[0, 1, 0] += 1.0  # keypoint 1 of person 0 one pixel off: exp(-1 / (2 * area * (2 * 0.1)^2))
    moved[1, :, 2] -= 0.03  # every score of person 1 lower by 0.03
    a = agreement(moved)
    person0 = (1 + math.exp(-1 / (2 * AREA * 0.2**2)) + 1) / 3
    assert a.mean_oks == pytest.approx((person0 + 1) / 2, abs=1e-9)
    assert a.score_error == pytest.approx(0.03 * 3 / 6, abs=1e-6)
    assert a.collapse == ""
    assert a.failures(0.999, 0.05) == [f"mean OKS {a.mean_oks:.3f} < 0.999"]
    assert a.failures(0.5, 0.01) == ["mean score difference 0.015 > 0.01"]


def test_constant_scores_fail_even_where_the_positions_agree():
    """What ONNX Runtime's saturated int8 kernels gave on an AVX2 CPU: every score 1.3002, positions close to
    float32's (the test network's keypoints all sit on one bright square)."""
    flat = POSE.copy()
    flat[..., 2] = 1.3002
    a = agreement(flat)
    assert a.mean_oks == 1.0
    assert a.collapse == "every keypoint has the score 1.3002"
    assert a.failures(0.85, 1.0) == ["every keypoint has the score 1.3002"]


def test_all_keypoints_on_one_point_fail():
    """Constant heatmaps decode to one position (their argmax, pixel 0) for every keypoint."""
    corner = POSE.copy()
    corner[..., :2] = 0.0
    a = agreement(corner)
    assert a.collapse == "all keypoints of each person on one point"
    assert a.mean_oks < 0.01 and a.failures(0.0, 1.0) == ["all keypoints of each person on one point"]


def test_a_reference_without_spread_cannot_show_collapse():
    """A reference whose own scores or keypoints do not spread (the speed-path tests' bright-square network) does
    not make an equally flat candidate collapsed; its agreement is judged by OKS and score difference alone."""
    flat = POSE.copy()
    flat[..., :2] = flat[:, :1, :2]  # every keypoint of a person on its first keypoint
    flat[..., 2] = 0.7
    assert collapse(flat, flat.copy(), np.full(2, AREA)) == ""
    shifted = flat.copy()
    shifted[..., 2] += 0.2
    assert agreement(shifted, flat).failures(0.85, 0.05) == ["mean score difference 0.200 > 0.05"]


def test_non_finite_keypoints_fail():
    bad = POSE.copy()
    bad[1, 2, 0] = np.nan
    a = agreement(bad)
    assert a.collapse == "non-finite keypoints"
    assert a.failures(0.0, 1.0)[0] == "non-finite keypoints"


def test_mismatched_people_are_refused():
    with pytest.raises(ValueError, match="cannot be compared"):
        agreement(POSE[:1])

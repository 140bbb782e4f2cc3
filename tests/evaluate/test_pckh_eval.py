"""MPII PCKh on a hand-made pair of people (MPII protocol: head size = 0.6 x head-box diagonal, correct when the
distance / head size <= 0.5, mean over visible joints without pelvis and thorax, weighted by visible counts)."""

from __future__ import annotations

import numpy as np
import pytest

from posetrack_cli.evaluate.pckh import pckh


def _case():
    gt = np.arange(2 * 16 * 2, dtype=np.float64).reshape(2, 16, 2) * 10.0
    pred = gt.copy()
    # Person 0: head box (0,0)-(30,40): diagonal 50 -> head size 30 -> correct within 15 px.
    pred[0] += (9.0, 12.0)  # 15 px exactly: correct (<=)
    pred[0, 0] += (20.0, 0.0)  # right ankle ~ 35 px off: wrong
    # Person 1: head box (0,0)-(60,80): diagonal 100 -> head size 60 -> correct within 30 px.
    pred[1] += (20.0, 0.0)
    pred[1, 0] += (20.0, 0.0)  # right ankle 40 px off: wrong
    visible = np.ones((2, 16), bool)
    visible[1, 15] = False  # person 1's left wrist is not annotated
    boxes = np.array([[0, 0, 30, 40], [0, 0, 60, 80]], np.float64)
    return pred, gt, visible, boxes


def test_pckh_by_hand():
    pred, gt, visible, boxes = _case()
    r = pckh(pred, gt, visible, boxes)
    assert r["per_joint"]["right_ankle"] == 0.0  # 0 of 2
    assert r["per_joint"]["left_wrist"] == 100.0  # 1 of 1 visible
    assert r["per_joint"]["head_top"] == 100.0
    assert r["groups"]["Ankle"] == pytest.approx(50.0)  # (0 + 100) / 2
    # Mean: 14 joints (pelvis, thorax out); weights 2 each except left_wrist 1 -> 27;
    # correct-weighted sum = 12 joints x 2 x 100 + 1 x 100 (left wrist) + 0 (right ankle) = 2500 -> 92.593.
    assert r["mean"] == pytest.approx(2500 / 27)
    assert r["count"]["left_wrist"] == 1


def test_pckh_accepts_head_sizes():
    pred, gt, visible, _ = _case()
    r = pckh(pred, gt, visible, np.array([30.0, 60.0]))
    assert r["mean"] == pytest.approx(2500 / 27)


def test_pckh_rejects_mismatched_shapes():
    pred, gt, visible, boxes = _case()
    with pytest.raises(ValueError, match="same N x 16"):
        pckh(pred[:1], gt, visible, boxes)

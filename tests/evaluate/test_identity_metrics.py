"""IDF1 / ID switches (motmetrics, on poseval's per-joint accumulators) and the PoseTrack21 keypoint HOTA, on
hand-made sequences whose values are worked out below from the definitions (Ristani et al. 2016 for IDF1; Luiten et
al. 2021 and the PoseTrack21 kit's hota_pose.py for HOTA)."""

from __future__ import annotations

import math

import pytest
from posetrack_cases import frames, gt_rect, pred_rect, write_case

from posetrack_cli.evaluate.hota import ALPHAS
from posetrack_cli.evaluate.posetrack import evaluate_posetrack, format_table


def test_one_id_switch_by_hand(tmp_path):
    # one person, 5 frames, every joint exact; predicted id 1 in frames 0-1, id 2 in frames 2-4.
    gt = frames([[gt_rect(0, 0)] for _ in range(5)])
    pred = frames([[pred_rect(0, 1 if k < 2 else 2)] for k in range(5)])
    r = evaluate_posetrack(*write_case(tmp_path, gt, pred))
    # poseval's MOT leaves the last frame out: 4 frames per joint, GT 0 matched by id 1 twice and id 2 twice.
    # IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) = 4 / (4 + 2 + 2) = 50 %; one switch per joint, 15 joints.
    assert r["mot"]["identity"] == pytest.approx({"idf1": 50.0, "id_switches": 15.0})
    assert r["mot"]["total"]["mota"] == pytest.approx(75.0)  # 1 - 1 switch / 4 objects
    # HOTA (all 5 frames): every joint a TP at every alpha, so DetA = 1. Pairs (0, id 1): 2 TPs, A = 2 / (5 + 2 - 2)
    # = 0.4; (0, id 2): 3 TPs, A = 3 / (5 + 3 - 3) = 0.6. AssA = (2 x 0.4 + 3 x 0.6) / 5 = 0.52; HOTA = sqrt(0.52).
    h = r["hota"]
    assert h["deta"] == pytest.approx(100.0)
    assert h["assa"] == pytest.approx(52.0)
    assert h["hota"] == pytest.approx(100 * math.sqrt(0.52))
    assert "IDF1 50.0, ID switches 15; keypoint HOTA 72.1" in format_table(r)


def test_keypoint_hota_localisation_by_hand(tmp_path):
    # one person, one frame; joint 0 predicted 6 px off (head size 30: d = 0.2, similarity 1 - 0.2 / 0.5001 = 0.6001),
    # the other 14 exact. Alphas 0.05..0.60 (12 of 19): all 15 joints TPs, HOTA 1. Alphas 0.65..0.95 (7): joint 0 is
    # a FN and a FP; over the joints DetA = 14 / (14 + 1 + 1) = 0.875 and AssA = mean over joints = 14 / 15.
    assert len(ALPHAS) == 19
    gt = frames([[gt_rect(0, 0)]])
    pred = frames([[pred_rect(0, 3, moved={0: (6.0, 0.0, 0.9)})]])
    h = evaluate_posetrack(*write_case(tmp_path, gt, pred))["hota"]
    expected = (12 * 1.0 + 7 * math.sqrt(0.875 * 14 / 15)) / 19
    assert h["hota"] == pytest.approx(100 * expected)
    assert h["deta"] == pytest.approx(100 * (12 + 7 * 0.875) / 19)
    assert h["per_joint"]["hota"][0] == pytest.approx(100 * 12 / 19)
    assert h["per_joint"]["hota"][1] == pytest.approx(100.0)


def test_identity_metrics_with_a_person_missed(tmp_path):
    # two people, 3 frames; person 1 predicted only in frame 0 (id 9), person 0 always (id 5). MOT frames 0-1:
    # person 0: IDTP 2; person 1: IDTP 1, IDFN 1. IDF1 = 2 x 3 / (2 x 3 + 0 + 1) = 6 / 7.
    gt = frames([[gt_rect(0, 0), gt_rect(1, 1)] for _ in range(3)])
    pred = frames([[pred_rect(0, 5), pred_rect(1, 9)], [pred_rect(0, 5)], [pred_rect(0, 5)]])
    r = evaluate_posetrack(*write_case(tmp_path, gt, pred))
    assert r["mot"]["identity"] == pytest.approx({"idf1": 100 * 6 / 7, "id_switches": 0.0})
    # HOTA over 3 frames: TP 4, FN 2 per joint at every alpha -> DetA = 4 / 6. AssA: (0, 5): 3 TPs, A = 3 / 3 = 1;
    # (1, 9): 1 TP, A = 1 / (3 + 1 - 1) = 1/3 -> AssA = (3 x 1 + 1 x 1/3) / 4 = 10 / 12.
    h = r["hota"]
    assert h["deta"] == pytest.approx(100 * 4 / 6)
    assert h["assa"] == pytest.approx(100 * 10 / 12)
    assert h["hota"] == pytest.approx(100 * math.sqrt(4 / 6 * 10 / 12))

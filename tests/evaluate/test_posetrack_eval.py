"""PoseTrack mAP / MOTA on hand-built sequences, every number computed by hand (rules: POSETRACK_EVAL.md).

Reminders used below: a frame's joints are matched within 15 px (posetrack_cases docstring); AP is the VOC area of
score-sorted joints; MOTA_j = 100 (1 - (miss + switch + FP) / objects) over every frame but the last of a sequence;
a labelled frame without predictions counts 1 object + 1 miss + 1 FP per joint; Total = mean of the 15 joints.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from posetrack_cases import frames, gt_rect, pred_rect, two_people_gt, write_case

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.posetrack import evaluate_posetrack, format_table, voc_ap


def _eval(tmp_path, gt, pred):
    return evaluate_posetrack(*write_case(tmp_path, gt, pred))


def _all(values, expected):
    assert np.allclose(values, expected), values


def test_perfect_predictions(tmp_path):
    # 3 frames x 2 people, every joint exact: AP 100 per joint; MOT frames 0, 1 -> 4 objects, 4 matches, 0 errors.
    pred = frames([[pred_rect(0, 5), pred_rect(1, 7)] for _ in range(3)])
    r = _eval(tmp_path, two_people_gt(3), pred)
    _all(r["ap"]["per_joint"], 100.0)
    assert r["ap"]["total"] == pytest.approx(100.0)
    _all(r["mot"]["mota"], 100.0)
    _all(r["mot"]["counts"]["num_objects"], 4)  # 2 people x 2 frames (the last frame is left out)
    assert r["mot"]["total"] == pytest.approx({"mota": 100.0, "motp": 100.0, "precision": 100.0, "recall": 100.0})
    assert r["frames"] == 3 and r["sequences"] == 1


def test_swap_of_two_ids(tmp_path):
    # 4 frames; predicted ids (a, b) = (5, 7), (5, 7), (7, 5), (5, 7). Counted frames 0..2: 6 objects;
    # frame 2 swaps both people -> 2 switches per joint; the swap back in frame 3 is in the excluded last frame.
    # MOTA = 100 (1 - 2 / 6) = 66.667 for every joint; AP untouched (ids play no part): 100.
    ids = [(5, 7), (5, 7), (7, 5), (5, 7)]
    pred = frames([[pred_rect(0, a), pred_rect(1, b)] for a, b in ids])
    r = _eval(tmp_path, two_people_gt(4), pred)
    _all(r["mot"]["counts"]["num_switches"], 2)
    _all(r["mot"]["mota"], 100 * (1 - 2 / 6))
    assert r["mot"]["total"]["mota"] == pytest.approx(66.6667, abs=1e-4)
    assert r["ap"]["total"] == pytest.approx(100.0)


def test_missed_person(tmp_path):
    # Person 1 not predicted in frame 0. AP: 5 true positives, 6 GT joints per joint id, precision 1 throughout
    # -> AP = 5/6 x 1 = 83.333. MOT (frames 0, 1): 4 objects, 1 miss -> MOTA 75.
    pred = frames([[pred_rect(0, 5)], [pred_rect(0, 5), pred_rect(1, 7)], [pred_rect(0, 5), pred_rect(1, 7)]])
    r = _eval(tmp_path, two_people_gt(3), pred)
    _all(r["ap"]["per_joint"], 100 * 5 / 6)
    _all(r["ap"]["recall"], 100 * 5 / 6)
    _all(r["mot"]["mota"], 75.0)
    assert r["mot"]["total"]["recall"] == pytest.approx(75.0)  # 3 detections / 4 objects


@pytest.mark.parametrize("fp_score, ap", [
    # FP scored below every true positive: 6 TPs reach recall 1 at precision 1 -> AP 100.
    (0.5, 100.0),
    # FP scored above: precisions 0, 1/2, 2/3, ..., 6/7 at recalls 0, 1/6, ..., 1; interpolated precision is 6/7 at
    # every recall step -> AP = 6/7 = 85.714.
    (0.95, 100 * 6 / 7),
])
def test_false_positive(tmp_path, fp_score, ap):
    fp = pred_rect(2, 9, score=fp_score)  # a person where there is none (person slot 2 has no GT)
    pred = frames([[pred_rect(0, 5), pred_rect(1, 7), fp], [pred_rect(0, 5), pred_rect(1, 7)],
                   [pred_rect(0, 5), pred_rect(1, 7)]])
    r = _eval(tmp_path, two_people_gt(3), pred)
    _all(r["ap"]["per_joint"], ap)
    # MOT frames 0, 1: 4 objects, 1 FP -> MOTA 75; MOT precision = 4 / (4 + 1) = 80 (scores are ignored).
    _all(r["mot"]["mota"], 75.0)
    _all(r["mot"]["precision"], 80.0)


def test_labelled_frame_without_predictions(tmp_path):
    # Frame 1 has both GT people but no prediction: poseval feeds 1 object, 1 miss, 1 FP per joint.
    # MOT frames 0, 1: objects 2 + 1 = 3, misses 1, FP 1 -> MOTA = 100 (1 - 2/3) = 33.333.
    # AP: 4 TPs (frames 0, 2) of 6 GT joints -> 66.667.
    pred = frames([[pred_rect(0, 5), pred_rect(1, 7)], [], [pred_rect(0, 5), pred_rect(1, 7)]])
    r = _eval(tmp_path, two_people_gt(3), pred)
    counts = r["mot"]["counts"]
    _all(counts["num_objects"], 3)
    _all(counts["num_misses"], 1)
    _all(counts["num_false_positives"], 1)
    _all(r["mot"]["mota"], 100 * (1 - 2 / 3))
    _all(r["ap"]["per_joint"], 100 * 4 / 6)


def test_unlabelled_frames_are_dropped(tmp_path):
    # GT frame 1 has no annorect: it goes with its (wrong) predictions. Labelled frames 0, 2, 3 remain, perfect.
    junk = pred_rect(2, 9, score=1.0)
    pred = frames([[pred_rect(0, 5)], [junk], [pred_rect(0, 5)], [pred_rect(0, 5)]])
    gt = frames([[gt_rect(0, 0)], [], [gt_rect(0, 0)], [gt_rect(0, 0)]])
    r = _eval(tmp_path, gt, pred)
    assert r["frames"] == 3
    _all(r["ap"]["per_joint"], 100.0)
    _all(r["mot"]["counts"]["num_objects"], 2)  # labelled frames 0 and 2 (3 is the last)
    _all(r["mot"]["mota"], 100.0)


def test_low_score_joints(tmp_path):
    # One person, 3 frames; the right ankle (joint 0) is 100 px off with score 0.1 in frames 0 and 1.
    # AP_0: sorted TP(0.9), FP(0.1), FP(0.1); 3 GT -> recall 1/3 at precision 1 -> 33.333; others 100;
    # Total AP = (14 x 100 + 33.333) / 15 = 95.556; Ankle column = (33.333 + 100) / 2 = 66.667.
    # MOTA_0 (frames 0, 1): 2 objects, each frame 1 miss + 1 FP (scores are ignored) -> 100 (1 - 4/2) = -100;
    # Total MOTA = (14 x 100 - 100) / 15 = 86.667.
    bad = {0: (100.0, 0.0, 0.1)}
    pred = frames([[pred_rect(0, 5, moved=bad)], [pred_rect(0, 5, moved=bad)], [pred_rect(0, 5)]])
    gt = frames([[gt_rect(0, 0)] for _ in range(3)])
    r = _eval(tmp_path, gt, pred)
    assert r["ap"]["per_joint"][0] == pytest.approx(100 / 3)
    assert r["ap"]["total"] == pytest.approx((1400 + 100 / 3) / 15)
    assert r["ap"]["groups"]["Ankle"] == pytest.approx((100 / 3 + 100) / 2)
    assert r["mot"]["mota"][0] == pytest.approx(-100.0)
    assert r["mot"]["total"]["mota"] == pytest.approx(1300 / 15)


def test_low_score_joints_left_out(tmp_path):
    # The same sequence with the two low-score ankles not written (what the export threshold does):
    # AP_0 unchanged (one TP of 3 GT at precision 1 -> 33.333); MOTA_0 = 100 (1 - 2/2) = 0;
    # Total MOTA = 1400 / 15 = 93.333 (MDPN Table 2: the keypoint threshold is what MOTA needs).
    gt = frames([[gt_rect(0, 0)] for _ in range(3)])
    pred = frames([[pred_rect(0, 5, joints=range(1, 15))], [pred_rect(0, 5, joints=range(1, 15))],
                   [pred_rect(0, 5)]])
    r = _eval(tmp_path, gt, pred)
    assert r["ap"]["per_joint"][0] == pytest.approx(100 / 3)
    assert r["mot"]["mota"][0] == pytest.approx(0.0)
    assert r["mot"]["total"]["mota"] == pytest.approx(1400 / 15)


def test_missing_joint_scores_get_min_score(tmp_path):
    # A prediction without joint scores ranks at -9999: the FP (score 0.9) goes first -> AP = 6/7 (see above).
    plain = [pred_rect(p, 5 + p) for p in (0, 1)]
    for rect in plain:
        for point in rect["annopoints"][0]["point"]:
            del point["score"]
    pred = frames([plain + [pred_rect(2, 9, score=0.9)], plain, plain])
    r = _eval(tmp_path, two_people_gt(3), pred)
    _all(r["ap"]["per_joint"], 100 * 6 / 7)


def test_ignore_region_removes_points(tmp_path):
    # An ignore region around person 1 in every frame: its GT and predicted points go, people left without points
    # too. Person 1 is predicted with a wrong id sequence, which no longer counts: everything is perfect.
    gt = two_people_gt(3)
    for f in gt["annolist"]:
        f["ignore_regions"] = [{"point": [{"x": [x], "y": [y]} for x, y in
                                          ((1050, 250), (1450, 250), (1450, 650), (1050, 650))]}]
    pred = frames([[pred_rect(0, 5), pred_rect(1, 7 + k)] for k in range(3)])
    r = _eval(tmp_path, gt, pred)
    _all(r["ap"]["per_joint"], 100.0)
    _all(r["mot"]["mota"], 100.0)
    _all(r["mot"]["counts"]["num_objects"], 2)


def test_posetrack18_reads_the_same(tmp_path):
    # The false-positive case (FP above the TPs, AP 6/7, MOTA 75) written in PT18 form gives the same numbers.
    from posetrack_cli.records import PT18_COCO_ORDER, PT18_JOINT_NAMES

    slot = [PT18_COCO_ORDER.index(n) for n in PT18_JOINT_NAMES]

    def to18(data: dict, gt: bool) -> dict:
        images, anns = [], []
        for k, f in enumerate(data["annolist"]):
            images.append({"id": 100 + k, "file_name": f"images/val/000001_mpii_test/{k:06d}.jpg"})
            for r in f["annorect"]:
                kp, sc = [0.0] * 51, [0.0] * 17
                for p in r["annopoints"][0]["point"]:
                    s = slot[p["id"][0]]
                    kp[3 * s:3 * s + 3] = [p["x"][0], p["y"][0], 1]
                    sc[s] = p.get("score", [0])[0]
                ann = {"image_id": 100 + k, "track_id": r["track_id"][0], "keypoints": kp}
                ann.update({"bbox_head": [0, 0, 30, 40]} if gt else {"scores": sc})
                anns.append(ann)
        return {"images": images, "annotations": anns,
                "categories": [{"name": "person", "keypoints": list(PT18_COCO_ORDER)}]}

    pred = frames([[pred_rect(0, 5), pred_rect(1, 7), pred_rect(2, 9, score=0.95)],
                   [pred_rect(0, 5), pred_rect(1, 7)], [pred_rect(0, 5), pred_rect(1, 7)]])
    r = _eval(tmp_path, to18(two_people_gt(3), True), to18(pred, False))
    _all(r["ap"]["per_joint"], 100 * 6 / 7)
    _all(r["mot"]["mota"], 75.0)


def test_two_sequences_pool_counts(tmp_path):
    # Sequence A perfect (4 objects), sequence B with the swap case (6 objects, 2 switches):
    # MOTA = 100 (1 - 2 / 10) = 80 per joint.
    ids = [(5, 7), (5, 7), (7, 5), (5, 7)]
    perfect = frames([[pred_rect(0, 5), pred_rect(1, 7)] for _ in range(3)])
    swapped = frames([[pred_rect(0, a), pred_rect(1, b)] for a, b in ids])
    r = evaluate_posetrack(*write_case(tmp_path, [two_people_gt(3), two_people_gt(4)], [perfect, swapped]))
    _all(r["mot"]["mota"], 80.0)
    assert r["sequences"] == 2


def test_format_table_matches_poseval_layout(tmp_path):
    pred = frames([[pred_rect(0, 5)], [pred_rect(0, 5)], [pred_rect(0, 5)]])
    r = _eval(tmp_path, frames([[gt_rect(0, 0)] for _ in range(3)]), pred)
    lines = format_table(r).splitlines()
    assert lines[1] == "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
    assert lines[2] == "&" + "100.0 &" * 7 + "100.0 \\\\"
    assert lines[4] == "& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\"
    assert lines[6] == "&" + "100.0 &" * 10 + "100.0 \\\\"


def test_voc_ap_by_hand():
    # recall 0.5 at precision 1, then recall 1 at precision 0.5: area = 0.5 x 1 + 0.5 x 0.5 = 0.75.
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)


def test_bad_inputs_are_one_line_errors(tmp_path):
    gt_dir, pred_dir = write_case(tmp_path, two_people_gt(3), frames([[]] * 2))
    with pytest.raises(InputError, match="2 prediction frames <> 3 ground-truth frames"):
        evaluate_posetrack(gt_dir, pred_dir)
    (pred_dir / "seq0.json").unlink()
    with pytest.raises(InputError, match="no prediction for seq0.json"):
        evaluate_posetrack(gt_dir, pred_dir)
    (pred_dir / "seq0.json").write_text(json.dumps(frames([[pred_rect(0, 5), pred_rect(1, 5)]] * 3)))
    with pytest.raises(InputError, match="non-unique track ids"):
        evaluate_posetrack(gt_dir, pred_dir)
    (pred_dir / "seq0.json").write_text(json.dumps(frames([[pred_rect(0, 10000)]] * 3)))
    with pytest.raises(InputError, match="10000"):
        evaluate_posetrack(gt_dir, pred_dir)
    (pred_dir / "seq0.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable PoseTrack file"):
        evaluate_posetrack(gt_dir, pred_dir)
    with pytest.raises(InputError, match="folder not found"):
        evaluate_posetrack(tmp_path / "nope", pred_dir)

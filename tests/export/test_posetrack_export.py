"""PoseTrack 2017/2018 exports: joint mapping, thresholds, track-id range, frame positions, and a round trip through
the evaluator (formats: POSETRACK_EVAL.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posetrack_cli.config import OutputConfig
from posetrack_cli.evaluate.posetrack import evaluate_posetrack
from posetrack_cli.evaluate.posetrack_io import read_posetrack
from posetrack_cli.export.posetrack import coco17_to_posetrack15, image_id, write_posetrack17, write_posetrack18
from posetrack_cli.records import VideoInfo
from posetrack_cli.records import COCO17, POSETRACK15, FrameResult, Poses, Tracks

INFO = VideoInfo("clips/walk.mp4", 25.0, 640, 480, 3)


def _coco_keypoints() -> np.ndarray:
    # COCO keypoint i at (10 i, 100 i), score 0.5 + 0.01 i; eyes and ears (1..4) at score 1.
    kp = np.array([[10.0 * i, 100.0 * i, 0.5 + 0.01 * i] for i in range(17)])
    kp[1:5, 2] = 1.0
    return kp[None]


def test_coco17_to_posetrack15_by_hand():
    out = coco17_to_posetrack15(_coco_keypoints())[0]
    # PT17 0 r_ankle <- COCO 16, 8 r_shoulder <- 6, 9 l_shoulder <- 5, 13 nose <- 0.
    assert out[0].tolist() == pytest.approx([160, 1600, 0.66])
    assert out[8].tolist() == pytest.approx([60, 600, 0.56])
    assert out[9].tolist() == pytest.approx([50, 500, 0.55])
    assert out[13].tolist() == pytest.approx([0, 0, 0.5])
    # neck = shoulder midpoint (55, 550), score min(0.55, 0.56) = 0.55.
    assert out[12].tolist() == pytest.approx([55, 550, 0.55])
    # head centre = mean of eyes/ears (equal scores) = (25, 250); head_top = c + 0.55 (c - neck)
    # = (25 - 16.5, 250 - 165) = (8.5, 85); score = min(0.55, mean face score 1.0) = 0.55.
    assert out[14].tolist() == pytest.approx([8.5, 85, 0.55])


def test_coco17_to_posetrack15_takes_head_joints():
    head = np.array([[[1.0, 2.0, 0.7], [3.0, 4.0, 0.8]]])
    out = coco17_to_posetrack15(_coco_keypoints(), head)[0]
    assert out[12].tolist() == [1.0, 2.0, 0.7] and out[14].tolist() == [3.0, 4.0, 0.8]
    with pytest.raises(ValueError):
        coco17_to_posetrack15(np.zeros((1, 15, 3)))


def _frame(index: int, ids: list[int], keypoints: np.ndarray, box_scores=None, skeleton=COCO17) -> FrameResult:
    n = len(ids)
    poses = Poses(np.tile([[10, 20, 110, 320]], (n, 1)), np.full(n, 0.9) if box_scores is None else box_scores,
                  keypoints, np.full(n, 0.8), skeleton)
    return FrameResult(index, index / 25.0, Tracks(poses, np.array(ids), np.arange(n)))


def _pt15(score: float = 0.9) -> np.ndarray:
    kp = np.array([[100.0 + 20 * j, 300.0 + 20 * j, score] for j in range(15)])
    return kp


def test_posetrack17_thresholds_ids_and_positions(tmp_path):
    kp = np.stack([_pt15(), _pt15(), _pt15()])
    kp[0, 0, 2] = 0.2  # below the keypoint threshold: not written
    kp[2, :, 2] = 0.1  # every joint below: the person is not written
    frames = [_frame(0, [12345, 7, 99], kp, np.array([0.9, 0.3, 0.9]), POSETRACK15),  # id 7 below box threshold
              _frame(2, [7, 12345], kp[:2], None, POSETRACK15)]
    path = tmp_path / "walk.json"
    write_posetrack17(path, frames, INFO, OutputConfig(keypoint_threshold=0.4, box_threshold=0.5))
    data = json.loads(path.read_text())["annolist"]
    assert len(data) == 3 and data[1]["annorect"] == []  # frame 1 had no result: an empty entry keeps positions
    first = data[0]["annorect"]
    assert len(first) == 1 and first[0]["track_id"] == [0]  # 12345 -> 0 (first seen)
    assert [p["id"][0] for p in first[0]["annopoints"][0]["point"]] == list(range(1, 15))
    assert [r["track_id"][0] for r in data[2]["annorect"]] == [1, 0]  # 7 -> 1 (first exported in frame 2)
    assert data[2]["annorect"][0]["annopoints"][0]["point"][0]["id"] == [1]  # its 0.2 ankle is left out
    assert data[2]["annorect"][1]["annopoints"][0]["point"][0] == {"id": [0], "x": [100.0], "y": [300.0],
                                                                    "score": [0.9]}


def test_posetrack18_layout(tmp_path):
    frames = [_frame(0, [3], _coco_keypoints())]
    path = tmp_path / "walk.json"
    write_posetrack18(path, frames, INFO, OutputConfig())
    data = json.loads(path.read_text())
    image, ann = data["images"][0], data["annotations"][0]
    folder = image["file_name"].split("/")[2]
    assert image["file_name"].startswith("images/val/") and folder.endswith("_mpii_test")
    assert image["id"] == 10_000_000_000 + int(folder.split("_")[0]) * 10_000  # poseval fname2id, frame 0
    kps = np.array(ann["keypoints"]).reshape(17, 3)
    assert kps[1].tolist() == [55.0, 550.0, 1]  # slot 1 = head_bottom (neck)
    assert kps[2].tolist() == [8.5, 85.0, 1]  # slot 2 = head_top
    assert kps[3].tolist() == [0, 0, 0] and kps[4].tolist() == [0, 0, 0]  # ears empty
    assert kps[16].tolist() == [160.0, 1600.0, 1] and ann["scores"][16] == pytest.approx(0.66)
    assert ann["track_id"] == 0 and ann["bbox"] == [10.0, 20.0, 100.0, 300.0]
    # Read back as poseval reads it: 15 joints, neck and head_top in place.
    person = read_posetrack(path)[0].people[0]
    has, xy, _ = person.joints()
    assert has.all() and xy[12].tolist() == [55.0, 550.0] and xy[14].tolist() == [8.5, 85.0]


def test_frame_names_and_image_ids(tmp_path):
    names = ["images/val/000342_bonn_test/000010.jpg", "images/val/000342_bonn_test/000011.jpg"]
    assert image_id(names[1], 1) == 2 * 10_000_000_000 + 342 * 10_000 + 11
    assert image_id("custom/frame.png", 4) == 5
    path = tmp_path / "000342_bonn_test.json"
    write_posetrack18(path, [_frame(1, [1], _coco_keypoints())], INFO, OutputConfig(), frame_names=names)
    data = json.loads(path.read_text())
    assert [im["file_name"] for im in data["images"]] == names
    assert data["annotations"][0]["image_id"] == data["images"][1]["id"]
    with pytest.raises(ValueError, match="no name"):
        write_posetrack18(path, [_frame(5, [1], _coco_keypoints())], INFO, OutputConfig(), frame_names=names)


@pytest.mark.parametrize("writer", [write_posetrack17, write_posetrack18])
def test_export_then_evaluate(tmp_path, writer):
    # GT: one person, 3 frames, joints as _pt15(), head box diagonal 50 (head size 30). Prediction = GT with the
    # right ankle 100 px off at score 0.1 in frames 0, 1 (the low-score case of test_posetrack_eval).
    # Without a keypoint threshold MOTA_0 = -100 (total 86.667); with 0.4 the ankles are not written: MOTA_0 = 0,
    # total 93.333; AP_0 = 33.333 either way.
    gt = {"annolist": [{"image": [{"name": f"s/{k}.jpg"}], "annorect": [{
        "track_id": [0], "x1": [0], "y1": [0], "x2": [30], "y2": [40], "annopoints": [{"point": [
            {"id": [j], "x": [100.0 + 20 * j], "y": [300.0 + 20 * j]} for j in range(15)]}]}]} for k in range(3)]}
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "walk.json").write_text(json.dumps(gt))
    frames = []
    for k in range(3):
        kp = _pt15()[None]
        if k < 2:
            kp[0, 0] = [200.0, 300.0, 0.1]
        frames.append(_frame(k, [41], kp, None, POSETRACK15))
    for threshold, mota in ((0.0, 1300 / 15), (0.4, 1400 / 15)):
        writer(tmp_path / "pred" / "walk.json", frames, INFO, OutputConfig(keypoint_threshold=threshold))
        r = evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
        assert r["ap"]["per_joint"][0] == pytest.approx(100 / 3)
        assert r["mot"]["total"]["mota"] == pytest.approx(mota)


def test_mpii_poses_export_without_nose(tmp_path):
    from posetrack_cli.records import MPII16

    kp = np.array([[[10.0 * i, 5.0 * i, 0.9] for i in range(16)]])
    write_posetrack17(tmp_path / "m.json", [_frame(0, [1], kp, None, MPII16)], INFO, OutputConfig())
    points = json.loads((tmp_path / "m.json").read_text())["annolist"][0]["annorect"][0]["annopoints"][0]["point"]
    by_id = {p["id"][0]: (p["x"][0], p["y"][0]) for p in points}
    assert 13 not in by_id and len(by_id) == 14  # MPII has no nose
    assert by_id[12] == (80.0, 40.0) and by_id[14] == (90.0, 45.0)  # upper_neck (8) -> neck, head_top (9)
    assert by_id[6] == (100.0, 50.0)  # r_wrist <- MPII 10


def test_mdpn_poses_export_their_predicted_head_joints(tmp_path):
    from posetrack_cli.export.coco import pose_entries
    from posetrack_cli.records import COCO17_HEAD

    # COCO-17 as above, then MDPN's head_top and neck, both far from where synthesis would put them
    kp = np.concatenate([_coco_keypoints(), [[[500.0, 40.0, 0.9], [505.0, 90.0, 0.8]]]], 1)
    frame = _frame(0, [3], kp, None, COCO17_HEAD)
    write_posetrack18(tmp_path / "walk.json", [frame], INFO, OutputConfig())
    kps = np.array(json.loads((tmp_path / "walk.json").read_text())["annotations"][0]["keypoints"]).reshape(17, 3)
    assert kps[1].tolist() == [505.0, 90.0, 1] and kps[2].tolist() == [500.0, 40.0, 1]  # head_bottom, head_top
    assert kps[16].tolist() == [160.0, 1600.0, 1] and kps[0].tolist() == [0.0, 0.0, 1]  # COCO joints as before
    write_posetrack17(tmp_path / "walk17.json", [frame], INFO, OutputConfig())
    points = json.loads((tmp_path / "walk17.json").read_text())["annolist"][0]["annorect"][0]["annopoints"][0]["point"]
    by_id = {p["id"][0]: (p["x"][0], p["y"][0], p["score"][0]) for p in points}
    assert by_id[12] == (505.0, 90.0, 0.8) and by_id[14] == (500.0, 40.0, 0.9)
    # the COCO export writes the COCO-17 part
    entry, = pose_entries(frame.tracks.poses, 7)
    assert np.array(entry["keypoints"]).reshape(17, 3).tolist() == np.round(_coco_keypoints()[0], 2).tolist()

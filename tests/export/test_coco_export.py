"""COCO keypoint results export: entries, box threshold, image ids, and AP 1 through pycocotools."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posetrack_cli.config import OutputConfig
from posetrack_cli.errors import OutputError
from posetrack_cli.evaluate.coco import evaluate_coco_keypoints
from posetrack_cli.export.coco import write_coco_results
from posetrack_cli.records import VideoInfo
from posetrack_cli.records import COCO17, POSETRACK15, FrameResult, Poses, Tracks

INFO = VideoInfo("v.mp4", 25.0, 640, 480, 2)


def _keypoints(offset: float) -> np.ndarray:
    xy = np.stack([np.linspace(100, 180, 17), np.linspace(50, 330, 17)], 1) + offset
    return np.concatenate([xy, np.full((17, 1), 0.75)], 1)


def _frame(index: int, n: int, skeleton=COCO17, box_scores=None) -> FrameResult:
    k = skeleton.num_keypoints
    kp = np.stack([_keypoints(300.0 * i)[:k] for i in range(n)])
    poses = Poses(np.tile([[100, 50, 180, 330]], (n, 1)), np.full(n, 0.9) if box_scores is None else box_scores,
                  kp, np.full(n, 0.6), skeleton)
    return FrameResult(index, index / 25, Tracks(poses, np.arange(1, n + 1), np.arange(n)))


def test_coco_results_entries(tmp_path):
    path = tmp_path / "res.json"
    write_coco_results(path, [_frame(0, 2, box_scores=np.array([0.9, 0.2])), _frame(1, 1)], INFO,
                       OutputConfig(box_threshold=0.5), image_ids=[501, 502])
    res = json.loads(path.read_text())
    assert [r["image_id"] for r in res] == [501, 502]  # the 0.2-box person is left out
    assert res[0]["category_id"] == 1 and res[0]["score"] == pytest.approx(0.6)
    assert len(res[0]["keypoints"]) == 51 and res[0]["keypoints"][:3] == [100.0, 50.0, 0.75]


def test_coco_results_default_ids_and_skeleton_check(tmp_path):
    path = tmp_path / "res.json"
    write_coco_results(path, [_frame(3, 1)], INFO, OutputConfig())
    assert json.loads(path.read_text())[0]["image_id"] == 3  # the frame index
    with pytest.raises(OutputError, match="COCO-17"):
        write_coco_results(path, [_frame(0, 1, POSETRACK15)], INFO, OutputConfig())


def test_coco_results_score_ap_1(tmp_path):
    gt = {"images": [{"id": 7, "width": 640, "height": 480}],
          "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                           "area": 20000.0, "bbox": [100, 50, 80, 280],
                           "keypoints": np.concatenate([_keypoints(0)[:, :2], np.full((17, 1), 2)], 1).ravel()
                           .tolist()}],
          "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    write_coco_results(tmp_path / "res.json", [_frame(0, 1)], INFO, OutputConfig(), image_ids=[7])
    r = evaluate_coco_keypoints(tmp_path / "gt.json", tmp_path / "res.json")
    assert r["stats"]["AP"] == pytest.approx(1.0)

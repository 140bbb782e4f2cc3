"""COCO keypoint AP through pycocotools on hand-made annotations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.coco import evaluate_coco_keypoints
from posetrack_cli.records import COCO17


def _person(offset: float) -> list[float]:
    xy = np.stack([np.linspace(100, 180, 17), np.linspace(50, 330, 17)], 1) + offset
    return np.concatenate([xy, np.full((17, 1), 2.0)], 1).ravel().round(2).tolist()


def _gt(tmp_path, n_people: int):
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17, "area": 20000.0,
             "bbox": [100 + 500 * i, 50 + 500 * i, 80, 280], "keypoints": _person(500.0 * i)}
            for i in range(n_people)]
    data = {"images": [{"id": 1, "width": 1500, "height": 1500, "file_name": "a.jpg"}], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints),
                            "skeleton": [[a + 1, b + 1] for a, b in COCO17.links]}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    return path


def _results(tmp_path, offsets):
    res = [{"image_id": 1, "category_id": 1, "keypoints": _person(o), "score": 0.9} for o in offsets]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(res))
    return path


def test_perfect_results_give_ap_1(tmp_path, capsys):
    r = evaluate_coco_keypoints(_gt(tmp_path, 1), _results(tmp_path, [0.0]))
    assert r["stats"]["AP"] == pytest.approx(1.0)
    assert r["stats"]["AR"] == pytest.approx(1.0)
    assert "Average Precision" in r["summary"]
    assert capsys.readouterr().out == ""  # pycocotools' prints are captured


def test_half_recall(tmp_path):
    # 2 GT people, 1 exact detection: recall 0.5 at precision 1. COCO samples precision at 101 recall thresholds
    # 0, 0.01, ..., 1; the 51 thresholds <= 0.5 get precision 1, the others 0 -> AP = 51/101 = 0.50495. AR = 0.5.
    r = evaluate_coco_keypoints(_gt(tmp_path, 2), _results(tmp_path, [0.0]))
    assert r["stats"]["AP"] == pytest.approx(51 / 101)
    assert r["stats"]["AR"] == pytest.approx(0.5)


def test_bad_coco_inputs(tmp_path):
    gt = _gt(tmp_path, 1)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(InputError, match="non-empty list"):
        evaluate_coco_keypoints(gt, empty)
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"image_id": 7, "category_id": 1, "keypoints": _person(0), "score": 1}]))
    with pytest.raises(InputError, match="not in"):
        evaluate_coco_keypoints(gt, other)
    with pytest.raises(InputError, match="cannot read"):
        evaluate_coco_keypoints(tmp_path / "missing.json", other)

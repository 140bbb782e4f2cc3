"""Readers of the published annotation formats, on small files written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from train_data_helpers import COCO_PERSON, coco_to_mpii, write_coco, write_mpii, write_posetrack18

from posetrack_cli.errors import InputError
from posetrack_cli.records import COCO17, MPII16, POSETRACK15
from posetrack_cli.train.datasets import (read_coco, read_dataset, read_mpii, read_posetrack18,
                                          skeleton_from_coco_category)


def test_coco_reader_keeps_keypoints_and_skips_crowds_and_empty_people(tmp_path):
    path, images = write_coco(tmp_path)
    people = read_coco(path, images)
    assert people.skeleton is COCO17
    assert len(people) == 2  # the crowd and the keypoint-less person are skipped
    np.testing.assert_array_equal(people.keypoints[0], COCO_PERSON)
    np.testing.assert_array_equal(people.keypoints[1], COCO_PERSON + [[3, 2, 0]] * 17)
    assert people.image_ids.tolist() == [100, 101] and people.ann_ids.tolist() == [1000, 1001]
    assert people.image_path(1) == str(images / "000000000001.jpg")
    # bbox [57, 12, 46, 103] (x, y, w, h) -> x2 = 57 + 46 - 1, y2 = 12 + 103 - 1 (HRNet's inclusive corners)
    np.testing.assert_allclose(people.boxes_xyxy[0], [57, 12, 102, 114])
    assert np.isnan(people.head_boxes_xyxy).all()


def test_coco_box_is_clipped_and_degenerate_people_dropped(tmp_path):
    path, images = write_coco(tmp_path, [COCO_PERSON])
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = [-10.0, -5.0, 40.0, 20.0]
    doc["annotations"].append({**doc["annotations"][0], "id": 7, "bbox": [10.0, 10.0, 0.0, 5.0]})
    path.write_text(json.dumps(doc))
    people = read_coco(path, images)
    assert len(people) == 1
    np.testing.assert_allclose(people.boxes_xyxy[0], [0, 0, 39, 19])


def test_custom_coco_category_builds_its_own_skeleton():
    cat = {"name": "hand", "keypoints": ["left_tip", "right_tip", "wrist", "nose"], "skeleton": [[1, 3], [2, 3]]}
    s = skeleton_from_coco_category(cat)
    assert s.keypoints == ("left_tip", "right_tip", "wrist", "nose")
    assert s.flip_pairs == ((0, 1),) and s.links == ((0, 2), (1, 2))
    assert s.sigmas[3] == 0.026 and s.sigmas[0] == 0.05  # COCO sigma by name, else 0.05


def test_mpii_reader_converts_matlab_pixels_and_scale(tmp_path):
    path, images = write_mpii(tmp_path)
    people = read_mpii(path, images)
    assert people.skeleton is MPII16 and len(people) == 2
    expected = coco_to_mpii(COCO_PERSON)
    np.testing.assert_allclose(people.keypoints[0], expected)  # written 1-based, read 0-based
    assert people.keypoints[0, 0, 2] == 0 and people.keypoints[0, 1, 2] == 1
    # centre (81, 53.5) + 15 x 0.5 down, -1 -> (80, 60); 200 x 0.5 = 100 px square
    np.testing.assert_allclose(people.boxes_xyxy[0], [30, 10, 130, 110])
    assert not np.isnan(people.head_boxes_xyxy).any()
    assert people.ann_ids.tolist() == [0, 1]


def test_posetrack18_reader_reorders_to_the_15_joints(tmp_path):
    path, root = write_posetrack18(tmp_path)
    people = read_posetrack18(path, root)
    assert people.skeleton is POSETRACK15
    assert len(people) == 2 and people.image_ids.tolist() == [10000010000, 10000010002]  # frame 1 unlabelled
    kps = people.keypoints[0]
    pt = POSETRACK15.keypoints
    np.testing.assert_allclose(kps[pt.index("right_ankle"), :2], COCO_PERSON[16, :2])
    np.testing.assert_allclose(kps[pt.index("left_wrist"), :2], COCO_PERSON[9, :2])
    np.testing.assert_allclose(kps[pt.index("nose"), :2], COCO_PERSON[0, :2])
    np.testing.assert_allclose(kps[pt.index("head_top"), :2], COCO_PERSON[0, :2] - [0, 10])
    np.testing.assert_allclose(kps[pt.index("neck"), :2], COCO_PERSON[0, :2] + [0, 8])
    assert (kps[:, 2] == 1).all()
    np.testing.assert_allclose(people.boxes_xyxy[0], [55, 2, 105, 117])
    np.testing.assert_allclose(people.head_boxes_xyxy[0], [70, 8, 90, 28])
    assert people.image_path(0).endswith("images/train/000001_mpii_train/000000.jpg")


def test_posetrack18_folder_of_sequences(tmp_path):
    write_posetrack18(tmp_path, "000001_mpii_train")
    write_posetrack18(tmp_path, "000002_bonn_train")
    people = read_dataset("posetrack18", tmp_path / "annotations", tmp_path)
    assert len(people) == 4 and len(people.image_paths) == 4


@pytest.mark.parametrize("reader", [read_coco, read_mpii, read_posetrack18])
def test_broken_files_are_one_line_input_errors(tmp_path, reader):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1}]')
    with pytest.raises(InputError) as exc:
        reader(bad, tmp_path)
    assert "\n" not in str(exc.value) and "bad.json" in str(exc.value)
    bad.write_text('{"unexpected": 1}' if reader is not read_mpii else '[{"image": "a.jpg"}]')
    with pytest.raises(InputError):
        reader(bad, tmp_path)

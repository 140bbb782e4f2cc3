"""Supplied person boxes (``--boxes``): every format parses to the exact boxes written, frames are matched by image
id / frame index / image name, and malformed files give one ``InputError`` naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posetrack_cli.detect.supplied import ImageIds, image_id_of, load_boxes, load_image_ids
from posetrack_cli.errors import InputError
from posetrack_cli.records import Frame, VideoInfo

IMAGE = np.zeros((4, 4, 3), np.uint8)


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def frame(index: int, name: str = "") -> Frame:
    return Frame(index, index / 10.0, IMAGE, name)


def boxes_of(dets) -> list[list[float]]:
    return np.concatenate([dets.boxes_xyxy, dets.scores[:, None]], 1).tolist()


def test_coco_results_by_numeric_stem_person_only(tmp_path):
    dets = [{"image_id": 397133, "category_id": 1, "bbox": [10.5, 20.25, 30.0, 60.5], "score": 0.75},
            {"image_id": 397133, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.9},  # not a person
            {"image_id": 397133, "category_id": 1, "bbox": [100, 50, 40, 80], "score": 0.125},
            {"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]
    source = load_boxes(write(tmp_path / "dets.json", dets))
    assert source.name == "supplied:dets.json"
    info = VideoInfo(str(tmp_path), 25.0, 640, 480, 2)
    got = source.boxes(info, [frame(0, "000000397133.jpg"), frame(1, "000000000099.jpg")])
    assert boxes_of(got[0]) == [[10.5, 20.25, 40.5, 80.75, 0.75], [100, 50, 140, 130, 0.125]]
    assert len(got[1]) == 0  # no boxes for image 99: nobody, not an error
    assert source.unused_note().startswith("note: supplied:dets.json has boxes for 1 of 2 images/frames")


def test_coco_results_min_score_and_video_frame_index(tmp_path):
    dets = [{"image_id": 3, "category_id": 1, "bbox": [10, 10, 10, 10], "score": s} for s in (0.2, 0.6)]
    source = load_boxes(write(tmp_path / "d.json", dets), min_score=0.5)
    info = VideoInfo(str(tmp_path / "clip.mp4"), 25.0, 64, 48, 5)
    got = source.boxes(info, [frame(2), frame(3)])  # a video file: image id = frame index
    assert len(got[0]) == 0 and boxes_of(got[1]) == [[10, 10, 20, 20, pytest.approx(0.6)]]


def test_image_ids_from_annotation_folder(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    write(ann / "000342_mpii_test.json", {"images": [{"id": 10003420000, "file_name":
                                                      "images/val/000342_mpii_test/000000.jpg"}]})
    write(ann / "000522_mpii_test.json", {"images": [{"id": 10005220000, "file_name":
                                                      "images/val/000522_mpii_test/000000.jpg"}]})
    ids = load_image_ids(ann)
    assert image_id_of("000522_mpii_test", "000000.jpg", 0, ids) == 10005220000
    assert image_id_of("elsewhere", "000000.jpg", 0, ids) == 0  # ambiguous name: falls back to its number
    assert image_id_of("x", "frame_a.jpg", 4, ids) is None and image_id_of("x", "", 4, ids) == 4
    dets = [{"image_id": 10005220000, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]
    source = load_boxes(write(tmp_path / "d.json", dets), image_ids=ids)
    seq = VideoInfo(str(tmp_path / "000522_mpii_test"), 25.0, 64, 48, 1)
    (tmp_path / "000522_mpii_test").mkdir()
    assert boxes_of(source.boxes(seq, [frame(0, "000000.jpg")])[0]) == [[1, 2, 4, 6, 0.5]]


def test_frames_json_by_index_and_name(tmp_path):
    data = {"frames": [{"frame": 0, "boxes": [[1.5, 2.5, 30.25, 40.75, 0.875], [50, 60, 70, 80]]},
                       {"frame": 1, "boxes": []},
                       {"name": "seq/000002.jpg", "boxes": [[5, 6, 7, 8, 0.5]]}]}
    source = load_boxes(write(tmp_path / "b.json", data))
    got = source.boxes(VideoInfo(str(tmp_path / "v.mp4"), 25.0, 64, 48, 3), [frame(0), frame(1), frame(2)])
    assert boxes_of(got[0]) == [[1.5, 2.5, 30.25, 40.75, 0.875], [50, 60, 70, 80, 1.0]]
    assert len(got[1]) == 0 and len(got[2]) == 0  # frame 2 is only named, and this video has no names
    assert boxes_of(source.lookup("seq", 7, "000002.jpg", None)) == [[5, 6, 7, 8, 0.5]]
    assert source.unused_note() == ""


def test_csv_with_video_column_and_optional_score(tmp_path):
    csv = "video,frame,x1,y1,x2,y2,score\na,0,1,2,3,4,0.5\nb,0,10,20,30,40,0.25\na,0,5,5,6,6,0.75\n"
    source = load_boxes(write(tmp_path / "b.csv", csv))
    assert boxes_of(source.lookup("a", 0, "", None)) == [[1, 2, 3, 4, 0.5], [5, 5, 6, 6, 0.75]]
    assert boxes_of(source.lookup("b", 0, "", None)) == [[10, 20, 30, 40, 0.25]]
    assert len(source.lookup("c", 0, "", None)) == 0
    plain = load_boxes(write(tmp_path / "p.csv", "y1,x1,frame,x2,y2\n2,1,3,3.5,4.5\n"))  # any column order
    assert boxes_of(plain.lookup("any", 3, "", None)) == [[1, 2, 3.5, 4.5, 1.0]]


def test_folder_of_per_video_files_matched_by_stem(tmp_path):
    folder = tmp_path / "boxes"
    folder.mkdir()
    write(folder / "clip1.json", {"frames": [{"frame": 0, "boxes": [[1, 1, 9, 9, 0.9]]}]})
    write(folder / "clip2.csv", "frame,x1,y1,x2,y2,score\n0,2,2,8,8,0.8\n")
    source = load_boxes(folder)
    assert source.name == "supplied:boxes"
    one = source.boxes(VideoInfo(str(tmp_path / "clip1.mp4"), 25.0, 64, 48, 1), [frame(0)])[0]
    two = source.boxes(VideoInfo(str(tmp_path / "sub" / "clip2.avi"), 25.0, 64, 48, 1), [frame(0)])[0]
    assert boxes_of(one) == [[1, 1, 9, 9, pytest.approx(0.9)]] and boxes_of(two) == [[2, 2, 8, 8, pytest.approx(0.8)]]


def _coco_gt() -> dict:
    kp = [0.0] * 51
    kp[15:18] = [60, 70, 2]  # left shoulder labelled
    return {"images": [{"id": 5, "file_name": "a.jpg"}, {"id": 6, "file_name": "b.jpg"}],
            "annotations": [
                {"id": 1, "image_id": 5, "category_id": 1, "iscrowd": 0, "bbox": [10, 20, 30, 40], "keypoints": kp},
                {"id": 2, "image_id": 5, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 99, 99], "keypoints": kp},
                {"id": 3, "image_id": 5, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 5, 5],
                 "keypoints": [0] * 51},  # nobody labelled: skipped (MMPose)
                {"id": 4, "image_id": 6, "category_id": 1, "iscrowd": 0, "bbox": [7, 8, 9, 10], "keypoints": kp}],
            "categories": [{"id": 1, "name": "person"}]}


def test_ground_truth_from_coco_annotations(tmp_path):
    source = load_boxes(write(tmp_path / "person_keypoints_val.json", _coco_gt()))
    assert boxes_of(source.lookup("v", 0, "a.jpg", 5)) == [[10, 20, 40, 60, 1.0]]
    info = VideoInfo(str(tmp_path), 25.0, 64, 48, 2)  # the file's own image list names the frames
    got = source.boxes(info, [frame(0, "b.jpg"), frame(1, "a.jpg")])
    assert boxes_of(got[0]) == [[7, 8, 16, 18, 1.0]] and len(got[1]) == 1


def test_ground_truth_from_posetrack18_and_17(tmp_path):
    kps = [0.0] * 51
    kps[0:3] = [100, 50, 1]  # nose
    kps[45:48] = [90, 200, 1]  # left ankle
    kps[48:51] = [120, 210, 1]
    pt18 = {"images": [{"id": 10003420000, "file_name": "images/val/000342_mpii_test/000000.jpg"},
                       {"id": 10003420001, "file_name": "images/val/000342_mpii_test/000001.jpg"}],
            "annotations": [{"image_id": 10003420000, "category_id": 1, "track_id": 0, "bbox": [80, 40, 50, 180],
                             "keypoints": kps},
                            {"image_id": 10003420001, "category_id": 1, "track_id": 0, "keypoints": kps}],
            "categories": [{"id": 1, "name": "person"}]}
    source = load_boxes(write(tmp_path / "000342_mpii_test.json", pt18), fmt="gt")
    (tmp_path / "000342_mpii_test").mkdir()
    seq = VideoInfo(str(tmp_path / "000342_mpii_test"), 25.0, 640, 480, 2)
    got = source.boxes(seq, [frame(0, "000000.jpg"), frame(1, "000001.jpg")])
    assert boxes_of(got[0]) == [[80, 40, 130, 220, 1.0]]
    assert boxes_of(got[1]) == [[90, 50, 120, 210, 1.0]]  # no bbox: the extent of the labelled joints

    points = [{"id": [j], "x": [x], "y": [y]} for j, x, y in ((0, 10, 100), (13, 30, 20), (5, 20, 90))]
    pt17 = {"annolist": [{"image": [{"name": "images/bonn/00001_mpii/00000001.jpg"}],
                          "annorect": [{"x1": [25], "y1": [15], "x2": [35], "y2": [25], "track_id": [0],
                                        "annopoints": [{"point": points}]}]}]}
    source17 = load_boxes(write(tmp_path / "00001_mpii.json", pt17))
    assert boxes_of(source17.lookup("00001_mpii", 0, "00000001.jpg", None)) == [[10, 20, 30, 100, 1.0]]
    assert len(source17.lookup("other_seq", 0, "00000001.jpg", None)) == 0


@pytest.mark.parametrize("name, content, problem", [
    ("bad.json", "{not json", "not valid JSON"),
    ("bad.json", {"something": 1}, "not a boxes file"),
    ("bad.json", [{"image_id": 1, "bbox": [1, 2, 3], "score": 1}], "bbox must be [x, y, w, h]"),
    ("bad.json", [{"image_id": 1, "bbox": [1, 2, -3, 4], "score": 1}], "negative width"),
    ("bad.json", [{"image_id": 1, "bbox": [1, 2, 3, 4], "score": "high"}], "is not a number"),
    ("bad.json", {"frames": [{"frame": 0, "boxes": [[10, 5, 2, 40]]}]}, "frames[0].boxes[0]: box [10, 5, 2, 40] has"),
    ("bad.json", {"frames": [{"boxes": [[1, 2, 3, 4]]}]}, "name the frame"),
    ("bad.json", {"frames": [{"frame": -1, "boxes": []}]}, "not a 0-based frame index"),
    ("bad.csv", "frame,x1,y1,x2\n0,1,2,3\n", "lacks y2"),
    ("bad.csv", "frame,x1,y1,x2,y2\n0,1,2,3,nan\n", "line 2: 'nan' is not a finite number"),
    ("bad.json", {"images": [{"id": 1}], "annotations": []}, "malformed gt boxes file"),
])
def test_malformed_files_name_the_file_and_the_problem(tmp_path, name, content, problem):
    path = write(tmp_path / name, content)
    with pytest.raises(InputError) as err:
        load_boxes(path)
    message = str(err.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_missing_file_and_wrong_format_override(tmp_path):
    with pytest.raises(InputError, match="no such boxes file"):
        load_boxes(tmp_path / "nope.json")
    dets = write(tmp_path / "d.json", [{"image_id": 1, "bbox": [1, 2, 3, 4], "score": 1}])
    with pytest.raises(InputError, match="per-frame boxes file is a JSON object"):
        load_boxes(dets, fmt="frames")
    with pytest.raises(InputError, match="unknown boxes format"):
        load_boxes(dets, fmt="xml")


def test_image_ids_lookup_prefers_folder_and_drops_ambiguous_names():
    ids = ImageIds([("a/1.jpg", 11), ("b/1.jpg", 12), ("c/2.jpg", 20)])
    assert ids.lookup("a", "1.jpg") == 11 and ids.lookup("b", "1.jpg") == 12
    assert ids.lookup("z", "1.jpg") is None and ids.lookup("z", "2.jpg") == 20

"""Tracking similarities chosen by name: values against hand-computed ones, and the tracker with box IoU."""

import numpy as np
import pytest

from posetrack_cli.config import TrackConfig
from posetrack_cli.records import COCO17, Poses
from posetrack_cli.track.similarity import SIMILARITIES, PoseSet
from posetrack_cli.track.tracker import PoseTracker

FRAME = np.zeros((10, 10, 3), np.uint8)


def pose_set(boxes, keypoint_score=0.9) -> PoseSet:
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    kp = np.zeros((len(boxes), 17, 3))
    kp[:, :, 0] = boxes[:, None, 0] + np.linspace(2, 8, 17)  # joints spread inside the box
    kp[:, :, 1] = boxes[:, None, 1] + np.linspace(2, 8, 17)
    kp[:, :, 2] = keypoint_score
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return PoseSet(kp, areas, boxes)


def test_iou_similarity_is_box_overlap():
    new = pose_set([[0, 0, 10, 10], [100, 100, 110, 120]])
    old = pose_set([[5, 0, 15, 10], [0, 0, 10, 10], [200, 200, 210, 210]])
    sim = SIMILARITIES["iou"](new, old, COCO17.sigmas, 0.3)
    # [0,0,10,10] vs [5,0,15,10]: 50 / (100 + 100 - 50) = 1/3; vs itself 1; disjoint boxes 0
    np.testing.assert_allclose(sim, [[1 / 3, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_oks_similarity_of_identical_poses_is_one_and_ignores_weak_joints():
    a = pose_set([[0, 0, 10, 10]])
    assert SIMILARITIES["oks"](a, a, COCO17.sigmas, 0.3)[0, 0] == pytest.approx(1.0)
    weak = pose_set([[0, 0, 10, 10]], keypoint_score=0.1)  # no joint passes the threshold: nothing to compare
    assert SIMILARITIES["oks"](weak, a, COCO17.sigmas, 0.3)[0, 0] == 0.0


def poses(boxes, keypoint_score) -> Poses:
    p = pose_set(boxes, keypoint_score)
    n = len(p.boxes_xyxy)
    return Poses(p.boxes_xyxy, np.ones(n), p.keypoints, np.ones(n), COCO17)


def run(config: TrackConfig, frames: list[list[list[float]]], keypoint_score=0.9, propagator=None) -> list[list[int]]:
    tracker = PoseTracker(config, propagator)
    return [tracker.update(FRAME, poses(b, keypoint_score)).track_ids.tolist() for b in frames]


def test_iou_keeps_ids_where_keypoints_are_too_weak_for_oks():
    walk = [[[10 + 3 * t, 10, 50 + 3 * t, 110], [200 - 3 * t, 10, 240 - 3 * t, 110]] for t in range(5)]
    assert run(TrackConfig(similarity="iou"), walk, keypoint_score=0.1) == [[1, 2]] * 5
    assert run(TrackConfig(similarity="oks"), walk, keypoint_score=0.1) == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]


class Shift:
    """A known motion: every point moves +30 px in x per frame."""

    def reset(self):
        pass

    def advance(self, frame):
        pass

    def move(self, points):
        return np.asarray(points, float) + [30.0, 0.0]


def test_remembered_boxes_move_with_their_joints():
    # 30 px per frame with 40 px wide boxes: IoU of unmoved consecutive boxes is 10 / 70 < 0.2
    walk = [[[10 + 30 * t, 10, 50 + 30 * t, 110]] for t in range(4)]
    assert run(TrackConfig(similarity="iou"), walk) == [[1], [2], [3], [4]]
    assert run(TrackConfig(similarity="iou"), walk, propagator=Shift()) == [[1]] * 4


def test_unknown_similarity_is_refused():
    with pytest.raises(ValueError, match="unknown similarity 'cosine'"):
        PoseTracker(TrackConfig(similarity="cosine"))

"""Scenario tests for the tracker core with no motion model (remembered poses stay in place)."""

import numpy as np
import pytest

from posetrack_cli.config import TrackConfig
from posetrack_cli.records import COCO17, Poses
from posetrack_cli.track.tracker import PoseTracker, TrackState

FRAME = np.zeros((10, 10, 3), np.uint8)
# A standing person template (17 COCO keypoints) 100 px tall, centred on x = 0.
TEMPLATE = np.array([[0, 0], [-3, -3], [3, -3], [-6, 0], [6, 0], [-15, 20], [15, 20], [-18, 40], [18, 40],
                     [-18, 60], [18, 60], [-10, 60], [10, 60], [-10, 80], [10, 80], [-10, 100], [10, 100]], float)


def poses_at(xs, y=0.0) -> Poses:
    kp = np.zeros((len(xs), 17, 3), np.float32)
    boxes = np.zeros((len(xs), 4), np.float32)
    ys = y if isinstance(y, list) else [y] * len(xs)
    for i, (x, y) in enumerate(zip(xs, ys)):
        kp[i, :, :2] = TEMPLATE + [x, y]
        kp[i, :, 2] = 0.9
        boxes[i] = [x - 20, y - 5, x + 20, y + 105]
    return Poses(boxes, np.ones(len(xs)), kp, np.ones(len(xs)), COCO17)


def run(tracker, xs_per_frame):
    return [tracker.update(FRAME, poses_at(xs)).track_ids.tolist() for xs in xs_per_frame]


def test_two_people_crossing_keep_their_ids():
    # A walks right, B walks left 40 px further back (lower in the image), 4 px per frame; their boxes overlap
    # from frame 8 to 17. The input order flips every other frame: ids must follow the people, not the rows.
    tracker = PoseTracker(TrackConfig(flow="none"))
    ids = []
    for t in range(25):
        xs, ys = [100 + 4 * t, 200 - 4 * t], [0.0, 40.0]
        if t % 2:
            xs, ys = xs[::-1], ys[::-1]
        ids.append((t % 2, tracker.update(FRAME, poses_at(xs, ys)).track_ids.tolist()))
    for t, (flipped, row) in enumerate(ids):
        assert row == ([2, 1] if flipped else [1, 2]), f"frame {t}: {row}"


def test_new_person_gets_a_new_id_and_ids_are_per_instance():
    tracker = PoseTracker(TrackConfig(flow="none"))
    assert run(tracker, [[100], [102], [104, 400]]) == [[1], [1], [1, 2]]
    other = PoseTracker(TrackConfig(flow="none"))
    assert run(other, [[50]]) == [[1]]  # a second tracker counts from 1 too
    tracker.reset()
    assert run(tracker, [[400]]) == [[1]]


@pytest.mark.parametrize("memory, expected_id", [(8, 1), (1, 2)])
def test_person_hidden_for_five_frames(memory, expected_id):
    tracker = PoseTracker(TrackConfig(flow="none", memory_frames=memory))
    ids = run(tracker, [[100], [100], [], [], [], [], [], [100]])
    assert ids[-1] == [expected_id]


def test_track_states_and_retirement_after_memory():
    tracker = PoseTracker(TrackConfig(flow="none", memory_frames=3))
    run(tracker, [[100, 300], [100]])
    assert tracker.states == {1: TrackState.ACTIVE, 2: TrackState.LOST}
    run(tracker, [[100], [100]])  # id 2 was last seen 3 frames ago: out of a 3-frame memory
    assert tracker.states == {1: TrackState.ACTIVE}


def test_hungarian_vs_greedy_in_the_tracker():
    # Unambiguous case: both matchers agree, and pose_index points back at the input rows.
    for matching in ("hungarian", "greedy"):
        tracker = PoseTracker(TrackConfig(flow="none", matching=matching))
        tracker.update(FRAME, poses_at([100, 300]))
        tracks = tracker.update(FRAME, poses_at([302, 101]))
        assert tracks.track_ids.tolist() == [2, 1]
        assert tracks.pose_index.tolist() == [0, 1]


def test_dissimilar_pose_starts_new_track():
    tracker = PoseTracker(TrackConfig(flow="none", min_similarity=0.5))
    assert run(tracker, [[100], [180]]) == [[1], [2]]


class ShiftPropagator:
    """A known flow field: everything moves (+10, +5) px per frame."""

    def reset(self):
        pass

    def advance(self, frame):
        pass

    def move(self, points):
        return np.asarray(points, float) + [10.0, 5.0]


def test_candidate_boxes_follow_the_motion_and_grow_15_percent():
    tracker = PoseTracker(TrackConfig(memory_frames=8), ShiftPropagator())
    assert len(tracker.candidate_boxes(0.3)) == 0
    tracker.update(FRAME, poses_at([100]))
    tracker.advance(FRAME)
    boxes = tracker.candidate_boxes(0.3)
    # Template joints span x -18..18, y -3..100 around x = 100 -> moved by (10, 5): x 92..128, y 2..105.
    # Enlarged 15 %: width 36 -> 41.4, height 103 -> 118.45, centre (110, 53.5).
    np.testing.assert_allclose(boxes.boxes_xyxy, [[110 - 20.7, 53.5 - 59.225, 110 + 20.7, 53.5 + 59.225]],
                               rtol=1e-5)
    assert boxes.scores.tolist() == [1.0]
    # update() after advance() does not move the memory a second time: the shifted pose matches exactly.
    shifted = poses_at([110], 5.0)
    assert tracker.update(FRAME, shifted).track_ids.tolist() == [1]


def test_propagated_box_shape_box_keeps_the_box_and_moves_it_with_the_joints():
    tracker = PoseTracker(TrackConfig(memory_frames=8, propagated_box="box"), ShiftPropagator())
    tracker.update(FRAME, poses_at([100]))  # its box: x 80..120, y -5..105
    tracker.advance(FRAME)
    boxes = tracker.candidate_boxes(0.3)
    # every joint moved by (10, 5): the same box moved by (10, 5), not the joints' extent
    np.testing.assert_allclose(boxes.boxes_xyxy, [[90, 0, 130, 110]])
    assert boxes.scores.tolist() == [1.0]
    with pytest.raises(ValueError, match="propagated box"):
        PoseTracker(TrackConfig(propagated_box="hull"))


def _in_box(box, x, y, confident=17):
    """One pose of the template at (x, y), given ``box`` (as the pose stage returns the box it was handed)."""
    p = poses_at([x], y)
    p.keypoints[0, confident:, 2] = 0.1
    return Poses(np.array([box], np.float32), p.box_scores, p.keypoints, p.scores, COCO17)


@pytest.mark.parametrize("shape, box, confident, expected", [
    # the flow moved the box by (10, 5) to x 90..130, y 0..110; the pose found in it sits 3 px right and 2 px lower
    # than the moved joints: the box follows the pose by (3, 2)
    ("box", [90, 0, 130, 110], 17, [93, 2, 133, 112]),
    ("box", [95, 0, 135, 110], 17, [95, 0, 135, 110]),  # a detector's box (not the moved one): kept as given
    ("box", [90, 0, 130, 110], 2, [90, 0, 130, 110]),  # 2 confident joints: too few to re-anchor on
    ("joints", [90, 0, 130, 110], 17, [90, 0, 130, 110]),  # Xiao et al.'s boxes: never re-anchored
])
def test_a_moved_box_is_re_anchored_on_the_pose_found_in_it(shape, box, confident, expected):
    tracker = PoseTracker(TrackConfig(memory_frames=8, box_propagation=True, propagated_box=shape), ShiftPropagator())
    tracker.update(FRAME, poses_at([100]))  # its box: x 80..120, y -5..105
    tracks = tracker.update(FRAME, _in_box(box, 113, 7, confident))
    assert tracks.track_ids.tolist() == [1]
    np.testing.assert_allclose(tracks.poses.boxes_xyxy, [expected])
    if shape == "box":  # the next frame's candidate starts from the re-anchored box
        tracker.advance(FRAME)
        np.testing.assert_allclose(tracker.candidate_boxes(0.3).boxes_xyxy, [np.add(expected, [10, 5, 10, 5])])


def test_without_box_propagation_a_box_is_never_re_anchored():
    # the detector's box of the second frame happens to equal the moved one: with no moved boxes in play, it is kept
    tracker = PoseTracker(TrackConfig(memory_frames=8, propagated_box="box"), ShiftPropagator())
    tracker.update(FRAME, poses_at([100]))
    tracks = tracker.update(FRAME, _in_box([90, 0, 130, 110], 113, 7))
    np.testing.assert_allclose(tracks.poses.boxes_xyxy, [[90, 0, 130, 110]])


def test_best_similarity_is_the_best_oks_of_each_id_over_the_memory_frames():
    from posetrack_cli.geometry import box_areas, oks_matrix
    from posetrack_cli.track.tracker import _Remembered, best_similarity

    def remembered(ids, xs):
        p = poses_at(xs)
        return _Remembered(np.array(ids, np.int64), p.keypoints.astype(np.float64), box_areas(p.boxes_xyxy),
                           p.scores, p.boxes_xyxy.astype(np.float64))

    # id 4 in three frames (near, far, absent), id 2 in one, id 9 in two; one frame holds nobody
    memory = [remembered([4, 9], [100, 300]), remembered([], []), remembered([9, 4, 2], [305, 160, 200]),
              remembered([4], [103])]
    new = poses_at([101, 302, 500])
    ids, sim = best_similarity(new, memory, COCO17.sigmas, 0.3)
    assert ids.tolist() == [2, 4, 9]

    def oks(x_new, x_old):  # one pair, by the reference formula
        a, b = poses_at([x_new]), poses_at([x_old])
        return oks_matrix(a.keypoints, b.keypoints, box_areas(a.boxes_xyxy), box_areas(b.boxes_xyxy),
                          COCO17.sigmas, 0.3)[0, 0]

    for row, x in enumerate([101, 302, 500]):
        expected = [oks(x, 200), max(oks(x, 100), oks(x, 160), oks(x, 103)), max(oks(x, 300), oks(x, 305))]
        np.testing.assert_allclose(sim[row], expected, rtol=1e-12, atol=1e-15)
    assert sim[0, 1] == pytest.approx(oks(101, 100)) and sim[2].max() < 1e-6


def test_every_memory_frame_moves_once_per_frame():
    tracker = PoseTracker(TrackConfig(memory_frames=3), propagator=ShiftPropagator())
    for xs in ([100, 300], [], [200]):
        tracker.update(FRAME, poses_at(xs))
    tracker.advance(FRAME)
    moved = [m.keypoints[:, :, :2] for m in tracker._memory]
    # frames seen 3, 2 and 1 updates ago: moved 3, 2 and 1 times
    np.testing.assert_allclose(moved[0], poses_at([100, 300]).keypoints[:, :, :2] + [30.0, 15.0])
    assert moved[1].shape == (0, 17, 2)
    np.testing.assert_allclose(moved[2], poses_at([200]).keypoints[:, :, :2] + [10.0, 5.0])

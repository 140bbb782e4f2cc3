"""The flow check (``flow.flow_trusted``) and what the tracker does with flow it does not trust: remembered poses
move on their own velocity (the mean flow of their joints at the last trusted step)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posetrack_cli.config import TrackConfig
from posetrack_cli.records import COCO17, Poses
from posetrack_cli.track.flow import FlowPropagator, flow_trusted, photometric_residual
from posetrack_cli.track.tracker import PoseTracker


def _texture(seed: int, shape=(120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blurred = cv2.GaussianBlur(rng.integers(0, 255, shape, dtype=np.uint8), (0, 0), 2.0)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX)  # full contrast, as a real scene


def test_residual_is_zero_for_the_true_flow_by_hand():
    # cur is prev shifted right by 3 px, so cur(x + 3) = prev(x): the field (3, 0) explains it exactly except in the
    # last 3 columns, where x + 3 leaves the frame and the border column of cur is read instead
    big = _texture(0, (120, 163))
    prev, cur = big[:, 3:], big[:, :160]
    flow = np.zeros((*prev.shape, 2), np.float32)
    flow[..., 0] = 3
    border = np.abs(prev[:, -3:].astype(int) - cur[:, -1:].astype(int)).sum() / prev.size
    assert photometric_residual(prev, cur, flow) == pytest.approx(border, abs=1e-9)
    assert photometric_residual(prev, cur, np.zeros_like(flow)) > 10  # no motion does not explain it


def test_flow_trusted_on_motion_not_on_black_frames_or_cuts():
    prop = FlowPropagator("dis", 1.0, check=True)
    a, cut = _texture(1), _texture(2)
    verdicts = []
    for frame in (a, np.roll(a, 2, axis=1), np.zeros_like(a), np.zeros_like(a), a, cut):
        prop.advance(frame)
        verdicts.append(prop.trusted)
    # first frame (no pair), shift, into black, black to black, out of black, cut
    assert verdicts == [True, True, False, False, False, False]


def test_without_the_check_every_flow_is_trusted():
    prop = FlowPropagator("dis", 1.0, check=False)
    for frame in (_texture(1), np.zeros((120, 160), np.uint8)):
        prop.advance(frame)
    assert prop.trusted and prop.flow is not None
    assert not flow_trusted(_texture(1), np.zeros((120, 160), np.uint8), prop.flow)


class ScriptedFlow:
    """Moves every point by ``shift`` per frame; frames listed in ``bad`` are untrusted (the tracker must not call
    ``move`` then; if it did, the points would jump by ``bad_shift``)."""

    def __init__(self, shift, bad: set[int], bad_shift=(300.0, 0.0), honour=True) -> None:
        self.shift, self.bad, self.bad_shift, self.honour = np.array(shift), bad, np.array(bad_shift), honour
        self.reset()

    def reset(self) -> None:
        self.k = -1
        self.trusted = True

    def advance(self, frame) -> None:
        self.k += 1
        self.trusted = not self.honour or self.k not in self.bad

    def move(self, pts):
        return pts + (self.bad_shift if self.k in self.bad else self.shift)


FIGURE = np.array([(0, -45), (-4, -48), (4, -48), (-8, -46), (8, -46), (-15, -30), (15, -30), (-20, -10), (20, -10),
                   (-22, 10), (22, 10), (-10, 10), (10, 10), (-10, 30), (10, 30), (-10, 50), (10, 50)], np.float64)


def _person(x: float) -> Poses:
    c = np.array([x, 150.0])
    kp = np.c_[c + FIGURE, np.full(17, 0.9)][None]
    return Poses(np.r_[c + FIGURE.min(0) - 10, c + FIGURE.max(0) + 10][None], [0.9], kp, [0.9], COCO17)


def _ids_across_gap(honour: bool) -> list[int]:
    # a person walks right 6 px/frame; frames 5-10 are black (no pose, bad flow); at frame 11 they are at
    # x = 100 + 6 * 11 = 166. Their velocity carries the memory there; the broken flow would push it 300 px away.
    # Without the check (the papers' tracker) the flow is followed.
    tracker = PoseTracker(TrackConfig(flow_check=honour),
                          ScriptedFlow((6.0, 0.0), set(range(5, 12)), honour=honour))
    frame, ids = np.zeros((10, 10, 3), np.uint8), []
    for k in range(14):
        poses = Poses.empty() if 5 <= k <= 10 else _person(100 + 6 * k)
        ids += tracker.update(frame, poses).track_ids.tolist()
    return ids


def test_untrusted_flow_moves_poses_on_their_velocity():
    assert _ids_across_gap(honour=True) == [1] * 8


def test_followed_blindly_the_broken_flow_loses_the_person():
    assert _ids_across_gap(honour=False) == [1] * 5 + [2] * 3


def test_velocity_comes_from_the_detections_not_the_flow():
    # the flow (trusted) says nothing moves, as DIS often does for a small person on a still background; the boxes
    # move 6 px/frame. Over 7 untrusted steps the memory moves 42 px on the detections' velocity: the id holds.
    tracker = PoseTracker(TrackConfig(), ScriptedFlow((0.0, 0.0), set(range(5, 12))))
    frame, ids = np.zeros((10, 10, 3), np.uint8), []
    for k in range(14):
        ids += tracker.update(frame, Poses.empty() if 5 <= k <= 10 else _person(100 + 6 * k)).track_ids.tolist()
    assert ids == [1] * 8


def test_a_pose_whose_flow_runs_off_is_moved_on_its_velocity():
    # the frame pair is trusted as a whole, but the flow under the person runs 40 px/frame (an occluder sweeping
    # over them, 0.35 box heights of 115 px): with the check the pose moves on its 6 px/frame; without, it follows
    tracker = PoseTracker(TrackConfig(), ScriptedFlow((6.0, 0.0), set(range(5, 12)), (40.0, 0.0), honour=False))
    frame, ids = np.zeros((10, 10, 3), np.uint8), []
    for k in range(14):
        ids += tracker.update(frame, Poses.empty() if 5 <= k <= 10 else _person(100 + 6 * k)).track_ids.tolist()
    assert ids == [1] * 8
    blind = PoseTracker(TrackConfig(flow_check=False),
                        ScriptedFlow((6.0, 0.0), set(range(5, 12)), (40.0, 0.0), honour=False))
    ids = [blind.update(frame, Poses.empty() if 5 <= k <= 10 else _person(100 + 6 * k)).track_ids.tolist()
           for k in range(14)]
    assert sum(ids, []) == [1] * 5 + [2] * 3


def _ids_across_blackout(black: range, honour: bool = True) -> list[int]:
    """A person walks right 6 px/frame; the frames in ``black`` have nobody and (with ``honour``) untrusted flow."""
    tracker = PoseTracker(TrackConfig(memory_frames=8), ScriptedFlow((6.0, 0.0), set(black) | {black.stop},
                                                                    (6.0, 0.0), honour=honour))
    frame, ids = np.zeros((10, 10, 3), np.uint8), []
    for k in range(black.stop + 3):
        ids += tracker.update(frame, Poses.empty() if k in black else _person(100 + 6 * k)).track_ids.tolist()
    return ids


def test_blind_frames_do_not_use_up_the_memory():
    # 10 black frames: the person was last seen 11 frames before they come back, beyond the 8 frames of memory, but
    # only 1 frame of memory in which the camera saw something: the id holds
    assert _ids_across_blackout(range(2, 12)) == [1] * 5
    # frames with nobody whose flow is trusted (an empty but real scene) count as memory, as in the papers' tracker
    assert _ids_across_blackout(range(2, 12), honour=False) == [1, 1, 2, 2, 2]
    # up to 8 blind frames in a row are skipped, then they count: after 15 black frames the last frame the person was
    # seen in is the 8th remembered one (with 7 blind ones), after 16 it has left the memory
    assert _ids_across_blackout(range(2, 17)) == [1] * 5
    assert _ids_across_blackout(range(2, 18)) == [1, 1, 2, 2, 2]

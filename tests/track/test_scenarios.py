"""Tracker scenarios on synthetic moving poses with a known flow field (PoseTracker + prune, MDPN section 2).

Every person is the same 17-joint COCO figure (about 40 x 100 px) centred on its trajectory. The flow field of a frame
pair is known: inside each person's box (previous frame) the pixels move with that person, the person listed last in
front; elsewhere the background moves with the camera. A propagator samples it with ``track.flow.sample_flow``, as
``FlowPropagator`` samples DIS/Farneback flow.
"""

from __future__ import annotations

import numpy as np
import pytest

from posetrack_cli.config import TrackConfig
from posetrack_cli.export.prune import count_track_lengths, short_tracks
from posetrack_cli.records import COCO17, Poses
from posetrack_cli.track.flow import sample_flow
from posetrack_cli.track.propagate import StillPropagator
from posetrack_cli.track.tracker import PoseTracker

FIGURE = np.array([(0, -45), (-4, -48), (4, -48), (-8, -46), (8, -46), (-15, -30), (15, -30), (-20, -10), (20, -10),
                   (-22, 10), (22, 10), (-10, 10), (10, 10), (-10, 30), (10, 30), (-10, 50), (10, 50)], np.float64)
HEIGHT, WIDTH, SCALE = 300, 480, 0.5  # frame size (px) and the flow field's scale


def poses_at(centres: list[np.ndarray]) -> Poses:
    kp = np.array([np.c_[c + FIGURE, np.full(17, 0.9)] for c in centres]).reshape(-1, 17, 3)
    boxes = np.array([[*(c + FIGURE.min(0) - 10), *(c + FIGURE.max(0) + 10)] for c in centres]).reshape(-1, 4)
    n = len(centres)
    return Poses(boxes, np.full(n, 0.9), kp, np.full(n, 0.9), COCO17)


def flow_field(prev: dict, cur: dict, camera=(0.0, 0.0)) -> np.ndarray:
    """(H S, W S, 2) flow in scaled pixels from frame positions ``prev`` to ``cur`` ({name: centre})."""
    field = np.zeros((int(HEIGHT * SCALE), int(WIDTH * SCALE), 2), np.float32) + np.float32(camera) * SCALE
    for name, c in prev.items():
        if name in cur:
            lo = np.maximum(((c + FIGURE.min(0) - 10) * SCALE).astype(int), 0)
            hi = ((c + FIGURE.max(0) + 10) * SCALE).astype(int)
            field[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] = (cur[name] - c) * SCALE
    return field


class KnownFlow:
    """``Propagator`` over known flow fields, one per frame pair."""

    def __init__(self, fields: list[np.ndarray]) -> None:
        self.fields = fields
        self.reset()

    def reset(self) -> None:
        self._frame, self.flow = 0, None

    def advance(self, frame_bgr: np.ndarray) -> None:
        self.flow = self.fields[self._frame - 1] if self._frame > 0 else None
        self._frame += 1

    def move(self, points_xy: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_xy, np.float64)
        return pts if self.flow is None else pts + sample_flow(self.flow, pts, SCALE)


def track(trajectory: list[dict], config: TrackConfig, camera=(0.0, 0.0), flow: bool = True) -> list[dict]:
    """Run the tracker over ``trajectory`` (per frame {name: centre}); returns per frame {name: track id}."""
    fields = [flow_field(a, b, camera) for a, b in zip(trajectory, trajectory[1:])]
    tracker = PoseTracker(config, KnownFlow(fields) if flow else StillPropagator())
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    out = []
    for people in trajectory:
        names = list(people)
        tracks = tracker.update(frame, poses_at([people[n] for n in names]))
        out.append(dict(zip(names, tracks.track_ids.tolist())))
    return out


def ids_of(result: list[dict], name: str) -> set[int]:
    return {frame[name] for frame in result if name in frame}


# A walks right and B left at 24 px/frame, 10 px apart vertically: their boxes overlap almost fully when they
# cross (frame 7-8), B in front. Without flow a 24 px step is too far for OKS >= 0.2 (min_similarity).
CROSSING = [{"A": np.array([60.0 + 24 * k, 140.0]), "B": np.array([420.0 - 24 * k, 150.0])} for k in range(16)]


@pytest.mark.parametrize("matching", ["hungarian", "greedy"])
def test_crossing_people_keep_their_ids(matching):
    result = track(CROSSING, TrackConfig(matching=matching, memory_frames=8))
    assert len(ids_of(result, "A")) == 1 and len(ids_of(result, "B")) == 1
    assert ids_of(result, "A") != ids_of(result, "B")


def test_crossing_without_flow_loses_ids():
    # Control: the scenario needs the motion model (the remembered poses stay 24 px behind).
    result = track(CROSSING, TrackConfig(), flow=False)
    assert len(ids_of(result, "A")) > 1


def _hidden_for_five_frames() -> list[dict]:
    # Camera pans: everything moves +8 px/frame. A is missed in frames 6..10 (5 frames) and back in frame 11.
    frames = []
    for k in range(16):
        people = {"B": np.array([60.0 + 8 * k, 200.0])}
        if not 6 <= k <= 10:
            people["A"] = np.array([200.0 + 8 * k, 120.0])
        frames.append(people)
    return frames


def test_hidden_person_returns_with_its_id_with_memory_8():
    # Last seen in frame 5, back in frame 11: 6 frames later <= L = 8, its remembered pose moved by the pan.
    result = track(_hidden_for_five_frames(), TrackConfig(memory_frames=8), camera=(8.0, 0.0))
    assert len(ids_of(result, "A")) == 1 and len(ids_of(result, "B")) == 1


def test_hidden_person_gets_a_new_id_with_memory_1():
    result = track(_hidden_for_five_frames(), TrackConfig(memory_frames=1), camera=(8.0, 0.0))
    before = {f["A"] for f in result[:6]}
    after = {f["A"] for f in result[11:]}
    assert len(before) == 1 and len(after) == 1 and before != after
    assert len(ids_of(result, "B")) == 1


def test_one_frame_false_positive_is_pruned():
    trajectory = [{"A": np.array([100.0 + 5 * k, 150.0])} for k in range(8)]
    trajectory[4]["ghost"] = np.array([380.0, 150.0])  # a detection that exists in one frame only
    result = track(trajectory, TrackConfig())
    lengths = count_track_lengths(frame.values() for frame in result)
    assert short_tracks(lengths, 2) == ids_of(result, "ghost")  # MDPN: tracklets < 2 frames are pruned
    assert short_tracks(lengths, 1) == set()  # min_track_length 1 keeps everything (ablation)
    assert lengths[next(iter(ids_of(result, "A")))] == 8

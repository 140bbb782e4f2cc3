"""Bounded memory: the tracker keeps O(memory window) state, and the whole frame loop (decode, track, JSON Lines)
holds no per-frame Python objects, so memory does not grow with video length. The long-video RSS figure is
benchmarks/bench_memory.py; these are the fast structural checks."""

from __future__ import annotations

import tracemalloc

import numpy as np
from conftest import write_video

from posetrack_cli.config import PipelineConfig, RefineConfig, TrackConfig
from posetrack_cli.pipeline import Stages, run_video
from posetrack_cli.records import COCO17, Detections, Poses
from posetrack_cli.track.tracker import PoseTracker

FRAME = np.zeros((48, 64, 3), np.uint8)


def crowd(t: int, rng: np.random.Generator) -> Poses:
    """Three people walking right plus two that appear for one frame only (a new id every time)."""
    xs = [20 + t % 50, 120 + t % 50, 220 + t % 50, *rng.uniform(300, 900, 2)]
    kp = np.zeros((5, 17, 3), np.float32)
    kp[:, :, 0] = np.array(xs)[:, None] + np.linspace(-10, 10, 17)
    kp[:, :, 1] = np.linspace(0, 100, 17)
    kp[:, :, 2] = 0.9
    boxes = np.stack([kp[:, :, 0].min(1), kp[:, :, 1].min(1), kp[:, :, 0].max(1), kp[:, :, 1].max(1)], 1)
    return Poses(boxes, np.ones(5, np.float32), kp, np.ones(5, np.float32), COCO17)


def state_size(tracker: PoseTracker) -> tuple[int, int, int]:
    memory = list(tracker._memory)
    return len(memory), sum(m.keypoints.nbytes + m.track_ids.nbytes + m.areas.nbytes for m in memory), \
        len(tracker.states)


def test_tracker_state_is_bounded_by_its_window():
    window = 8
    tracker = PoseTracker(TrackConfig(flow="none", memory_frames=window))
    rng = np.random.default_rng(0)
    sizes = []
    for t in range(600):
        ids = tracker.update(FRAME, crowd(t, rng)).track_ids
        sizes.append(state_size(tracker))
    assert ids.max() > 600  # ids keep coming (new people nearly every frame) ...
    frames, nbytes, states = np.array(sizes).max(0)
    assert frames == window  # ... but only the last 8 frames are remembered
    assert states <= 5 * window  # states of ids still in the window, not of every id ever seen
    assert nbytes <= window * 5 * (17 * 3 * 8 + 8 + 8)
    assert sizes[100][:2] == sizes[-1][:2]


class MovingPeople:
    """Stub detector + pose estimator: the ``crowd`` of the frame index, no networks (only the loop is measured)."""

    name = "stub"
    skeleton = COCO17

    def __init__(self) -> None:
        self.t = 0
        self.rng = np.random.default_rng(1)

    def detect(self, frames):
        return [Detections(np.zeros((0, 4)), np.zeros(0)) for _ in frames]

    def estimate(self, frames, detections):
        out = []
        for _ in frames:
            out.append(crowd(self.t, self.rng))
            self.t += 1
        return out


def test_frame_loop_python_memory_does_not_grow_with_video_length(tmp_path):
    n, start = 150, 50
    video = write_video(tmp_path / "long.avi", [np.full((48, 64, 3), i % 250, np.uint8) for i in range(n)], fps=25)
    stub = MovingPeople()
    # refinement off: with it the loop also keeps one colour histogram per track ever seen (AppearanceBank, 256 bytes
    # each), which grows with the number of tracks (here ~2 new ids a frame), not with frames as such
    config = PipelineConfig(track=TrackConfig(flow="dis", min_track_length=1), frame_batch=5,
                            refine=RefineConfig(enabled=False), flow_thread="on")
    done, alive = [0], {}

    def on_frames(k: int) -> None:  # the loop runs untraced to ``start``, then every allocation is traced
        done[0] += k
        if done[0] == start:
            tracemalloc.start()
        elif done[0] % 50 == 0:
            alive[done[0]] = tracemalloc.get_traced_memory()[0]  # bytes allocated since ``start``, still held

    try:
        result = run_video(video, tmp_path / "out" / "long.json", Stages(stub, stub, config), on_frames=on_frames)
    finally:
        tracemalloc.stop()
    assert result.frames == n and result.people > 4 * n
    # Held at frame 100: the frames in flight (the reader's queue, the batch it decodes, the current and the next
    # batch: 4 x 5 frames of 9 KB), the next batch's flow fields (5 x 6 KB, computed on the flow thread during this
    # batch's pose) and the tracker's 8-frame window: under 384 KB. Once the window is full, 50 more frames (250
    # tracked poses, ~100 new ids) leave nothing behind but a few hundred bytes (id integers, dict resizes); keeping
    # one small dict per frame would cost over 20 KB.
    assert 0 < alive[100] < 384 * 1024 and alive[150] - alive[100] < 4 * 1024, alive

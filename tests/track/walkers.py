"""Hand-made walkers for the refinement tests: tracklets of a 17-joint figure moving at constant velocity, and the
per-frame results an online tracker would have given for them."""

from __future__ import annotations

import numpy as np

from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks
from posetrack_cli.track.refine.stitch import StitchConfig
from posetrack_cli.track.refine.tracklets import Tracklet

FIGURE = np.array([(0, -45), (-4, -48), (4, -48), (-8, -46), (8, -46), (-15, -30), (15, -30), (-20, -10), (20, -10),
                   (-22, 10), (22, 10), (-10, 10), (10, 10), (-10, 30), (10, 30), (-10, 50), (10, 50)], np.float64)
FPS = 10.0


def walker(tid: int, frames, x0: float, vx: float, y: float = 200.0, score: float = 0.9) -> Tracklet:
    """A figure 110 px tall (box) moving vx px/frame from x0 at frame 0."""
    frames = np.asarray(list(frames), np.int64)
    centres = np.c_[x0 + vx * frames, np.full(len(frames), y)]
    kp = np.concatenate([centres[:, None] + FIGURE[None], np.full((len(frames), 17, 1), score)], axis=2)
    boxes = np.c_[centres - [30, 55], centres + [30, 55]]
    n = len(frames)
    return Tracklet(tid, frames, boxes, np.full(n, score), kp, np.full(n, score))


CFG = StitchConfig(FPS, max_gap_s=2.0, max_cost=2.0)


def results_of(tracklets, n_frames) -> list[FrameResult]:
    out = []
    for f in range(n_frames):
        rows = [(t, int(np.flatnonzero(t.frames == f)[0])) for t in tracklets if f in t.frames]
        poses = Poses(np.array([t.boxes_xyxy[i] for t, i in rows]).reshape(-1, 4),
                      np.array([t.box_scores[i] for t, i in rows]),
                      np.array([t.keypoints[i] for t, i in rows]).reshape(-1, 17, 3),
                      np.array([t.scores[i] for t, i in rows]), COCO17)
        out.append(FrameResult(f, f / FPS, Tracks(poses, [t.track_id for t, _ in rows], np.arange(len(rows)))))
    return out

"""Gap filling: frames missing inside a track, up to ``max_frames`` in a row, get boxes and keypoints interpolated
at constant velocity between the two entries around the gap, marked interpolated, with scores lowered so that
exports and evaluators can drop them (PoseTrack exports drop boxes under ``OutputConfig.box_threshold``)."""

from __future__ import annotations

import numpy as np

from posetrack_cli.track.refine.tracklets import Tracklet


def fill_gaps(t: Tracklet, frames: np.ndarray, max_frames: int, score_factor: float) -> tuple[Tracklet, int]:
    """``t`` with its gaps of 1..``max_frames`` missing frames filled, at the indices of ``frames`` (the frames the
    video has, sorted) that fall inside them; returns it and the number of entries added."""
    if max_frames < 1 or len(t) < 2:
        return t, 0
    pos = np.searchsorted(frames, t.frames)
    gaps = np.flatnonzero((np.diff(pos) > 1) & (np.diff(pos) - 1 <= max_frames))
    if len(gaps) == 0:
        return t, 0
    parts = [t]
    for g in gaps:
        missing = frames[pos[g] + 1:pos[g + 1]]
        parts.append(_between(t, g, missing, score_factor))
    return Tracklet.concat(t.track_id, parts), sum(len(p) for p in parts[1:])


def _between(t: Tracklet, row: int, missing: np.ndarray, score_factor: float) -> Tracklet:
    """Entries at frames ``missing`` between rows ``row`` and ``row + 1`` of ``t``: positions linear in the frame
    index, every score the lower of the two ends times ``score_factor``."""
    f0, f1 = t.frames[row], t.frames[row + 1]
    w = ((missing - f0) / (f1 - f0))[:, None]  # (M, 1) share of the way to the next entry

    def lerp(a, b):
        return a[None] * (1 - w.reshape((-1,) + (1,) * a.ndim)) + b[None] * w.reshape((-1,) + (1,) * a.ndim)

    kp = lerp(t.keypoints[row], t.keypoints[row + 1])
    kp[:, :, 2] = np.minimum(t.keypoints[row, :, 2], t.keypoints[row + 1, :, 2])[None] * score_factor
    n = len(missing)
    return Tracklet(t.track_id, missing.astype(np.int64), lerp(t.boxes_xyxy[row], t.boxes_xyxy[row + 1]),
                    np.full(n, min(t.box_scores[row], t.box_scores[row + 1]) * score_factor), kp,
                    np.full(n, min(t.scores[row], t.scores[row + 1]) * score_factor), np.ones(n, bool))

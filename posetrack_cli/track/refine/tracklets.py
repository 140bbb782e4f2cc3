"""Tracklets: the frames of one online track id as arrays, built from and returned to per-frame ``FrameResult`` s.

The refinement pass works on whole tracklets (a join, a gap, a smoothing window span many frames), so the frames of
a finished run are regrouped by id here, and regrouped by frame afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posetrack_cli.records import FrameResult, Poses, Skeleton, Tracks

ENTRY_FIELDS = ("frames", "boxes_xyxy", "box_scores", "keypoints", "scores", "interpolated", "rows")  # per entry


@dataclass
class Tracklet:
    """One track id's entries in time order."""

    track_id: int
    frames: np.ndarray  # (T,) int64, frame indices, increasing
    boxes_xyxy: np.ndarray  # (T, 4) float64
    box_scores: np.ndarray  # (T,) float64
    keypoints: np.ndarray  # (T, K, 3) float64, x, y, score
    scores: np.ndarray  # (T,) float64
    interpolated: np.ndarray = field(default=None)  # (T,) bool, True for entries made by gap filling
    rows: np.ndarray = field(default=None)  # (T,) int64, the entry's row in its online frame (``Tracks.pose_index``
    # of the refined frames); -1 for entries made by gap filling

    def __post_init__(self) -> None:
        if self.interpolated is None:
            self.interpolated = np.zeros(len(self.frames), bool)
        if self.rows is None:
            self.rows = np.full(len(self.frames), -1, np.int64)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def heights(self) -> np.ndarray:
        return np.maximum(self.boxes_xyxy[:, 3] - self.boxes_xyxy[:, 1], 1.0)

    @property
    def centres(self) -> np.ndarray:
        return (self.boxes_xyxy[:, :2] + self.boxes_xyxy[:, 2:]) / 2

    def keypoint_centres(self, min_score: float) -> np.ndarray:
        """(T, 2) mean of each entry's joints scored at least ``min_score`` (the box centre when none is)."""
        ok = self.keypoints[:, :, 2] >= min_score
        n = ok.sum(1)
        sums = (self.keypoints[:, :, :2] * ok[:, :, None]).sum(1)
        return np.where(n[:, None] > 0, sums / np.maximum(n, 1)[:, None], self.centres)

    def take(self, index) -> Tracklet:
        return Tracklet(self.track_id, *(getattr(self, f)[index] for f in ENTRY_FIELDS))

    @staticmethod
    def concat(track_id: int, parts: list[Tracklet]) -> Tracklet:
        """Tracklets disjoint in time as one, under ``track_id``."""
        cat = [np.concatenate([getattr(p, f) for p in parts]) for f in ENTRY_FIELDS]
        order = np.argsort(cat[0], kind="stable")
        return Tracklet(track_id, *(c[order] for c in cat))


def tracklets_from_results(results: list[FrameResult]) -> list[Tracklet]:
    """Group the entries of every frame by track id (tracklets ordered by id)."""
    rows: dict[int, list[tuple[int, int]]] = {}
    for k, r in enumerate(results):
        for i, tid in enumerate(r.tracks.track_ids.tolist()):
            rows.setdefault(tid, []).append((k, i))
    out = []
    for tid in sorted(rows):
        entries = [(results[k].frame_index, results[k].tracks.poses, i) for k, i in rows[tid]]
        out.append(Tracklet(
            tid, np.array([f for f, _, _ in entries], np.int64),
            np.array([p.boxes_xyxy[i] for _, p, i in entries], np.float64).reshape(-1, 4),
            np.array([p.box_scores[i] for _, p, i in entries], np.float64),
            np.array([p.keypoints[i] for _, p, i in entries], np.float64),
            np.array([p.scores[i] for _, p, i in entries], np.float64),
            rows=np.array([results[k].tracks.pose_index[i] for k, i in rows[tid]], np.int64)))
    return out


def results_from_tracklets(results: list[FrameResult], tracklets: list[Tracklet],
                           skeleton: Skeleton) -> tuple[list[FrameResult], list[np.ndarray]]:
    """Frames again, with the entries of ``tracklets`` (ids ascending within a frame), and per frame which entries
    were interpolated. ``results`` gives the frames (index and time) to fill; ``Tracks.pose_index`` is each entry's
    ``Tracklet.rows`` (-1 for filled entries)."""
    by_frame: dict[int, list[tuple[Tracklet, int]]] = {}
    for t in tracklets:
        for row, f in enumerate(t.frames.tolist()):
            by_frame.setdefault(f, []).append((t, row))
    out, flags = [], []
    for r in results:
        entries = sorted(by_frame.get(r.frame_index, []), key=lambda e: e[0].track_id)
        poses = Poses(np.array([t.boxes_xyxy[i] for t, i in entries]).reshape(-1, 4),
                      np.array([t.box_scores[i] for t, i in entries]),
                      np.array([t.keypoints[i] for t, i in entries]).reshape(-1, skeleton.num_keypoints, 3),
                      np.array([t.scores[i] for t, i in entries]), skeleton)
        ids = np.array([t.track_id for t, _ in entries], np.int64)
        rows = np.array([t.rows[i] for t, i in entries], np.int64)
        out.append(FrameResult(r.frame_index, r.time_s, Tracks(poses, ids, rows)))
        flags.append(np.array([t.interpolated[i] for t, i in entries], bool))
    return out, flags

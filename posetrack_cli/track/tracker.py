"""Pose tracker of the MDPN pipeline: remembered poses of the last L frames are moved into the current frame
(``Propagator``), compared with the new poses (OKS by default, ``similarity.SIMILARITIES``), and matched one-to-one
(Hungarian by default).

State belongs to one instance (per-instance id counter, ``reset()``); memory is O(L frames), not O(video).

Flow that the propagator does not trust (``Propagator.trusted`` False: a black frame, a cut; ``TrackConfig.flow_check``)
does not move the memory: each remembered pose moves on its track's own velocity instead, measured on the track's
detected boxes (averaged over ``VELOCITY_FRAMES``; the flow of a small, fast person is often the background's). On a
video whose every frame pair is trusted this changes nothing; where one is not, remembered poses no longer jump to
where the broken flow points, so people keep their id across short blackouts. The same holds for a single pose whose
flow is far from its track's velocity (``MAX_FLOW_DEVIATION``): an occluder sweeping over a person carries the flow
with it.

A blind frame (nobody seen in it, and its flow not trusted: a black frame of a camera glitch) does not push the
oldest remembered frame out, up to ``memory_frames`` blind frames in a row: of that frame only the last sightings of
tracks are kept (tracks no later remembered frame has), still moving on their velocity. So a blackout does not by
itself push a person out of memory, and no track gains older poses to be matched with. Where every frame's flow is
trusted, as without the check, nothing changes.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from posetrack_cli.config import TrackConfig
from posetrack_cli.geometry import box_areas
from posetrack_cli.records import Detections, Poses, Tracks
from posetrack_cli.track.assignment import MATCHERS
from posetrack_cli.track.boxprop import PROPAGATED_BOXES, propagated_boxes
from posetrack_cli.track.propagate import Propagator, StillPropagator
from posetrack_cli.track.similarity import SIMILARITIES, PoseSet, Similarity, oks

VELOCITY_FRAMES = 5  # span (detections) of a track's averaged velocity (fewer: noisier, more: laggier)
MIN_ANCHOR_JOINTS = 3  # propagated_box "box": confident joints needed to re-anchor a moved box on its pose
MAX_FLOW_DEVIATION = 0.2  # box heights per frame: with the flow check on, a pose whose flow differs from its
# track's velocity by more is moved on the velocity (the flow there belongs to something else: an occluder passing)


class TrackState(enum.Enum):
    ACTIVE = "active"  # matched in the latest frame
    LOST = "lost"  # not matched in the latest frame, still in memory (can be re-found)


@dataclass
class _Remembered:
    """The tracked poses of one past frame, moved along to the current frame every step."""

    track_ids: np.ndarray  # (M,) int64
    keypoints: np.ndarray  # (M, K, 3) float64, x/y in current-frame pixels after propagation
    areas: np.ndarray  # (M,) float64, OKS scale of each pose (its box area)
    scores: np.ndarray  # (M,) float32, instance score (the score a propagated box inherits)
    boxes_xyxy: np.ndarray  # (M, 4) float64, moved by the mean motion of the pose's keypoints
    velocity: np.ndarray = None  # (M, 2) float64, px/frame: the track's velocity when the pose was seen, NaN for a
    # track seen once (no velocity yet)

    def __post_init__(self) -> None:
        if self.velocity is None:
            self.velocity = np.full((len(self.track_ids), 2), np.nan)


def best_similarity(poses: Poses, memory: list[_Remembered], sigmas, keypoint_threshold: float,
                    similarity: Similarity = oks) -> tuple[np.ndarray, np.ndarray]:
    """``similarity`` of every new pose with every remembered track, best over the memory frames.

    Returns (track_ids (T,), similarity (N, T)); T counts each remembered id once.
    """
    ids = np.unique(np.concatenate([m.track_ids for m in memory])) if memory else np.zeros(0, np.int64)
    sim = np.zeros((len(poses), len(ids)))
    if len(poses) == 0 or len(ids) == 0:
        return ids, sim
    # one matrix against every remembered pose of every memory frame, then the best per track id
    new = PoseSet(poses.keypoints, box_areas(poses.boxes_xyxy), poses.boxes_xyxy)
    old = PoseSet(*(np.concatenate([getattr(m, f) for m in memory]) for f in ("keypoints", "areas", "boxes_xyxy")))
    s = similarity(new, old, sigmas, keypoint_threshold)
    np.maximum.at(sim.T, np.searchsorted(ids, np.concatenate([m.track_ids for m in memory])), s.T)
    return ids, sim


class PoseTracker:
    def __init__(self, config: TrackConfig, propagator: Propagator | None = None) -> None:
        if config.matching not in MATCHERS:
            raise ValueError(f"unknown matching {config.matching!r}; choose from {', '.join(MATCHERS)}")
        if config.similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {config.similarity!r}; choose from {', '.join(SIMILARITIES)}")
        if config.propagated_box not in PROPAGATED_BOXES:
            raise ValueError(f"unknown propagated box {config.propagated_box!r}; choose from "
                             f"{', '.join(PROPAGATED_BOXES)}")
        if config.memory_frames < 1:
            raise ValueError("memory_frames must be at least 1")
        self.config = config
        self.propagator = propagator or StillPropagator()
        self.reset()

    def reset(self) -> None:
        self._next_id = 1
        self._memory: deque[_Remembered] = deque(maxlen=self.config.memory_frames)
        self._advanced = False
        self.states: dict[int, TrackState] = {}
        self._frame = 0  # frames updated so far
        self._seen: dict[int, tuple] = {}  # track id -> (frame, box centre x, y, velocity x, y) at its last detection
        self._skipped = 0  # blind frames of the current run (nobody seen, the flow not trusted) kept out of memory

    def prepare(self, frames_bgr: list[np.ndarray]) -> None:
        """Let the motion model start on frames that ``advance``/``update`` will take next, in their order, while the
        caller does other work (``FlowPropagator.prepare``: the flow on a worker thread); the same tracks either way."""
        prepare = getattr(self.propagator, "prepare", None)
        if prepare is not None:
            prepare(frames_bgr)

    def close(self) -> None:
        """Stop the motion model's worker thread, if it has one (``prepare``)."""
        close = getattr(self.propagator, "close", None)
        if close is not None:
            close()

    def advance(self, frame_bgr: np.ndarray) -> None:
        """Move the remembered poses into ``frame_bgr`` (once per frame; ``update`` does it when not done yet)."""
        if not self._advanced:
            self._propagate_memory(frame_bgr)
            self._advanced = True

    def candidate_boxes(self, keypoint_threshold: float) -> Detections:
        """Box propagation: a box for each pose of the latest remembered frame, moved into the current frame; call
        after ``advance``. ``TrackConfig.propagated_box`` "joints" (Xiao et al.): around the moved joints, enlarged
        by 15 %; "box": the pose's own box, moved with its joints. Scores are the remembered pose scores."""
        if not self._memory or not len(self._memory[-1].track_ids):
            return Detections.empty()
        last = self._memory[-1]
        if self.config.propagated_box == "box":
            boxes = last.boxes_xyxy.astype(np.float32)
            ok = np.isfinite(boxes).all(1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            return Detections(boxes[ok], last.scores[ok])
        boxes = propagated_boxes(last.keypoints, keypoint_threshold)
        ok = np.isfinite(boxes).all(1)
        return Detections(boxes[ok], last.scores[ok])

    def update(self, frame_bgr: np.ndarray, poses: Poses) -> Tracks:
        """Assign a track id to every pose of the next frame (ids are >= 1, unique within a frame)."""
        self.advance(frame_bgr)
        self._advanced = False
        track_ids, sim = best_similarity(poses, list(self._memory), poses.skeleton.sigmas,
                                         self.config.keypoint_threshold, SIMILARITIES[self.config.similarity])
        pairs = MATCHERS[self.config.matching](sim, self.config.min_similarity)
        ids = self._assign_ids(len(poses), pairs, track_ids)
        if self.config.box_propagation and self.config.propagated_box == "box" and self._memory:
            poses = self._reanchored(poses, ids, self._memory[-1])
        blind = len(poses) == 0 and not getattr(self.propagator, "trusted", True)
        if blind and self._skipped < self._memory.maxlen and len(self._memory) == self._memory.maxlen:
            self._keep_last_sightings(self._skipped)  # the frame an empty one would push out (none is pushed)
            self._skipped += 1
        else:
            self._skipped = self._skipped if blind else 0
            self._remember(ids, poses)
        self._update_states(ids)
        self._frame += 1
        return Tracks(poses, ids, np.arange(len(poses)))

    def _reanchored(self, poses: Poses, ids: np.ndarray, last: _Remembered) -> Poses:
        """``propagated_box`` "box": a pose estimated in its track's moved box (the box it was given is the moved one,
        within half a pixel) takes the box along by the mean offset of its joints from the moved ones (joints at or
        above ``keypoint_threshold`` in both, at least ``MIN_ANCHOR_JOINTS``): the box follows the person that the
        pose found, not the flow alone, whose error adds up over the frames between two detector frames."""
        boxes = poses.boxes_xyxy.astype(np.float64)
        row_of = {tid: j for j, tid in enumerate(last.track_ids.tolist())}
        threshold = self.config.keypoint_threshold
        moved = False
        for i, tid in enumerate(ids.tolist()):
            j = row_of.get(tid)
            if j is None or np.abs(boxes[i] - last.boxes_xyxy[j]).max() > 0.5:
                continue  # a new track, or a detector's box
            new, old = poses.keypoints[i], last.keypoints[j]
            both = (new[:, 2] >= threshold) & (old[:, 2] >= threshold)
            if both.sum() >= MIN_ANCHOR_JOINTS:
                boxes[i] += np.tile((new[both, :2] - old[both, :2]).mean(axis=0), 2)
                moved = True
        if not moved:
            return poses
        return Poses(boxes.astype(poses.boxes_xyxy.dtype), poses.box_scores, poses.keypoints, poses.scores,
                     poses.skeleton)

    def _keep_last_sightings(self, i: int) -> None:
        """Of remembered frame ``i``, keep only the poses of tracks that no later remembered frame has: their last
        sightings (a blind frame takes no place in the memory, but older sightings of a track seen since are dropped
        as the papers' window would drop them, so no track gains more remembered poses to match with)."""
        memory = list(self._memory)
        later = {tid for m in memory[i + 1:] for tid in m.track_ids.tolist()}
        m = memory[i]
        keep = np.array([tid not in later for tid in m.track_ids.tolist()], bool)
        self._memory[i] = _Remembered(m.track_ids[keep], m.keypoints[keep], m.areas[keep], m.scores[keep],
                                      m.boxes_xyxy[keep], m.velocity[keep])

    def _propagate_memory(self, frame_bgr: np.ndarray) -> None:
        """Move every remembered keypoint into the new frame: one ``move`` call for all memory frames (points move
        independently, so this equals one call per frame, at an eighth of the calls)."""
        self.propagator.advance(frame_bgr)
        live = [m for m in self._memory if len(m.track_ids)]
        if not live:
            return
        trusted = getattr(self.propagator, "trusted", True)
        if not trusted:
            for m in live:  # the flow is not trusted: every pose moves on its own velocity (stays, without one)
                v = np.nan_to_num(m.velocity)
                m.keypoints[:, :, :2] += v[:, None, :]
                m.boxes_xyxy += np.tile(v, 2)
            return
        moved = self.propagator.move(np.concatenate([m.keypoints[:, :, :2].reshape(-1, 2) for m in live]))
        start = 0
        for m in live:
            count = m.keypoints.shape[0] * m.keypoints.shape[1]
            new_xy = moved[start:start + count].reshape(m.keypoints.shape[0], -1, 2)
            if self.config.flow_check:
                new_xy = self._plausible(m, new_xy)
            m.boxes_xyxy += np.tile((new_xy - m.keypoints[:, :, :2]).mean(axis=1), 2)  # a box moves with its joints
            m.keypoints[:, :, :2] = new_xy
            start += count

    @staticmethod
    def _plausible(m: _Remembered, new_xy: np.ndarray) -> np.ndarray:
        """``new_xy`` (M, K, 2), except for poses whose mean flow differs from their track's velocity by more than
        ``MAX_FLOW_DEVIATION`` box heights: those move on the velocity."""
        flow = (new_xy - m.keypoints[:, :, :2]).mean(axis=1)
        heights = m.boxes_xyxy[:, 3] - m.boxes_xyxy[:, 1]
        with np.errstate(invalid="ignore"):  # NaN velocity (a track seen once): the flow is all there is
            off = np.linalg.norm(flow - m.velocity, axis=1) > MAX_FLOW_DEVIATION * heights
        if off.any():
            new_xy = new_xy.copy()
            new_xy[off] = m.keypoints[off, :, :2] + m.velocity[off, None, :]
        return new_xy

    def _assign_ids(self, n: int, pairs: list[tuple[int, int]], track_ids: np.ndarray) -> np.ndarray:
        ids = np.zeros(n, np.int64)
        for row, col in pairs:
            ids[row] = track_ids[col]
        for row in np.flatnonzero(ids == 0):
            ids[row] = self._next_id
            self._next_id += 1
        return ids

    def _remember(self, ids: np.ndarray, poses: Poses) -> None:
        self._memory.append(_Remembered(ids.copy(), poses.keypoints.astype(np.float64),
                                        box_areas(poses.boxes_xyxy), poses.scores.copy(),
                                        poses.boxes_xyxy.astype(np.float64),
                                        self._velocities(ids, poses.boxes_xyxy.astype(np.float64))))

    def _velocities(self, ids: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 2) px/frame: each track's box-centre velocity, an exponential average over its detections with the
        span of ``VELOCITY_FRAMES`` (weight 2 / (span + 1) on the newest step); NaN for a new track."""
        out = np.full((len(ids), 2), np.nan)
        centres = ((boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2).tolist()
        alpha = 2.0 / (VELOCITY_FRAMES + 1)
        for i, tid in enumerate(ids.tolist()):
            x, y = centres[i]
            last = self._seen.get(tid)  # (frame, x, y, vx, vy), plain floats: ~200 bytes per remembered track
            vx = vy = float("nan")
            if last is not None:
                f0, x0, y0, vx0, vy0 = last
                step = ((x - x0) / (self._frame - f0), (y - y0) / (self._frame - f0))
                first = math.isnan(vx0)
                vx, vy = step if first else (alpha * step[0] + (1 - alpha) * vx0, alpha * step[1] + (1 - alpha) * vy0)
            self._seen[tid] = (self._frame, x, y, vx, vy)
            out[i] = (vx, vy)
        return out

    def _update_states(self, ids: np.ndarray) -> None:
        """Matched ids become ACTIVE, remembered ones LOST; ids no longer in memory are retired (forgotten)."""
        remembered = set(np.concatenate([m.track_ids for m in self._memory]).tolist())
        current = set(ids.tolist())
        self.states = {tid: TrackState.ACTIVE if tid in current else TrackState.LOST for tid in remembered}
        self._seen = {tid: seen for tid, seen in self._seen.items() if tid in remembered}

"""A run's ``tracks.json`` read into arrays: one row per frame, one row per detected person, so that everything the
report computes (series, segments, flags) is vectorised and the page embeds columns, not nested JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posetrack_cli.errors import InputError, one_line
from posetrack_cli.io.files import read_json
from posetrack_cli.records import SKELETONS, Skeleton


@dataclass
class RunData:
    """A run as columns. People are ordered by frame; ``person_frame`` points into the frame rows."""

    video: dict  # tracks.json "video": path, fps, width, height, frame_count, kind
    models: dict  # detectors, pose, skeleton
    config: dict  # the run's settings (thresholds)
    stats: dict  # frames, people, tracks, pruned_tracklets, complete, truncated
    skeleton: Skeleton
    frame_index: np.ndarray  # (F,) int64, the frames' indices in the video (gaps where a frame was unreadable)
    time_s: np.ndarray  # (F,) float64, presentation time of each frame
    person_frame: np.ndarray  # (N,) int64, row in frame_index of each person, non-decreasing
    track_id: np.ndarray  # (N,) int64
    boxes_xyxy: np.ndarray  # (N, 4) float32, original-frame pixels
    score: np.ndarray  # (N,) float32, pose score (box score x mean keypoint score)
    keypoints: np.ndarray  # (N, K, 3) float32: x, y in pixels and the keypoint score
    frame_names: list[str] = field(default_factory=list)  # image sequences: each frame's file name

    @property
    def fps(self) -> float:
        return float(self.video.get("fps") or 25.0)

    @property
    def people_per_frame(self) -> np.ndarray:
        """(F,) number of people in each frame."""
        return np.bincount(self.person_frame, minlength=len(self.frame_index))


def load_tracks(path: str | Path) -> RunData:
    """Read a posetrack ``tracks.json``; a one-line ``InputError`` when it is missing, not JSON or not ours."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder without summary.json; give a tracks.json or a folder run's output")
    doc = read_json(path, "tracks.json")
    try:
        return run_from_dict(doc)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: not a posetrack tracks.json ({one_line(exc)}); give the .json a run wrote") \
            from None


def run_from_dict(doc: dict) -> RunData:
    """The columns of a parsed tracks.json (KeyError/TypeError/ValueError on a malformed one)."""
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("posetrack.tracks/"):
        raise ValueError("no posetrack.tracks schema")
    skeleton = SKELETONS[doc["models"]["skeleton"]]
    frames = doc["frames"]
    k = skeleton.num_keypoints
    counts = [len(f["people"]) for f in frames]
    people = [p for f in frames for p in f["people"]]
    keypoints = np.array([p["keypoints"] for p in people], np.float32).reshape(len(people), k, 3)
    boxes = np.array([p["box_xyxy"] for p in people], np.float32).reshape(len(people), 4)
    return RunData(
        video=dict(doc["video"]), models=dict(doc["models"]), config=dict(doc.get("config") or {}),
        stats=dict(doc.get("stats") or {}), skeleton=skeleton,
        frame_index=np.array([int(f["frame_index"]) for f in frames], np.int64),
        time_s=np.array([float(f["time_s"]) for f in frames], np.float64),
        person_frame=np.repeat(np.arange(len(frames)), counts).astype(np.int64),
        track_id=np.array([int(p["track_id"]) for p in people], np.int64),
        boxes_xyxy=boxes, score=np.array([float(p["score"]) for p in people], np.float32),
        keypoints=keypoints, frame_names=[str(f.get("name", "")) for f in frames])

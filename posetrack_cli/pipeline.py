"""Build the stages from a ``PipelineConfig`` and run the frame loop:
detect (ensemble + NMS 0.6) -> top-down pose -> OKS-NMS 0.4 -> track -> JSON Lines stream -> final outputs.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS, PipelineConfig, resolve_path
from posetrack_cli.detect.base import Detector, keep_plausible
from posetrack_cli.detect.ensemble import build_detector, fuse
from posetrack_cli.device import resolve_device
from posetrack_cli.export import native
from posetrack_cli.pose.base import PoseEstimator
from posetrack_cli.pose.oks import box_areas, oks_nms
from posetrack_cli.records import Detections, FrameResult, Poses, Tracks
from posetrack_cli.track.smoothing import KeypointSmoother
from posetrack_cli.track.propagate import make_propagator
from posetrack_cli.track.tracker import PoseTracker
from posetrack_cli.video import Frame, VideoInfo, iter_timed_frames, probe, truncation_note

log = logging.getLogger(__name__)

DEFAULT_POSE_CARD = "mspn-2x50-coco"  # the MDPN/MSPN default: 2xMSPN-50, COCO val2017 AP 0.754 (MMPose zoo)


@dataclass
class Stages:
    """What persists across videos: models are loaded once for a whole folder."""

    detector: Detector | None  # None when every box is supplied (``boxes``)
    estimator: PoseEstimator
    config: PipelineConfig
    boxes: BoxSource | None = None  # supplied person boxes (``--boxes``) instead of the detectors

    def new_tracker(self) -> PoseTracker:
        t = self.config.track
        return PoseTracker(t, make_propagator(t.flow, t.flow_scale))

    def models(self) -> dict:
        return {"detectors": list(self.config.detect.detectors), "pose": self.estimator.name,
                "skeleton": self.estimator.skeleton.name}


def build_estimator(config: PipelineConfig, device: str) -> PoseEstimator:
    """The chosen pose model. ``auto`` takes the best model card whose weights are present (or the default MSPN
    card with ``--pose-weights``) and otherwise falls back to the bundled YOLO crop estimator, saying so once."""
    from posetrack_cli.pose.topdown import TopDownEstimator
    from posetrack_cli.pose.yolo_crop import YoloCropEstimator
    from posetrack_cli.zoo import auto_card

    pose = config.pose
    if pose.model == "yolo-crop":
        return YoloCropEstimator(resolve_path(config.detect.yolo_weights, DEFAULT_YOLO_WEIGHTS), pose, device)
    if pose.model != "auto":
        return TopDownEstimator.from_card(pose.model, pose, resolve_device(device), weights=pose.weights)
    card = DEFAULT_POSE_CARD if pose.weights else getattr(auto_card(), "name", None)
    if card is not None:
        return TopDownEstimator.from_card(card, pose, resolve_device(device), weights=pose.weights)
    log.warning("no MSPN/MDPN weights found (see `posetrack weights list`); using the bundled yolo-crop pose "
                "estimator")
    return YoloCropEstimator(resolve_path(config.detect.yolo_weights, DEFAULT_YOLO_WEIGHTS), pose, device)


def build_stages(config: PipelineConfig) -> Stages:
    device = str(resolve_device(config.device))
    return Stages(build_detector(config.detect, device), build_estimator(config, device), config)


def suppress_poses(poses: Poses, min_score: float, oks_threshold: float) -> Poses:
    """Drop poses below ``min_score``, then OKS-NMS (MDPN: 0.4) among the rest."""
    poses = poses.select(np.flatnonzero(poses.scores >= min_score))
    if oks_threshold <= 0 or len(poses) < 2:
        return poses
    keep = oks_nms(poses.keypoints, poses.scores, box_areas(poses.boxes_xyxy), poses.skeleton.sigmas,
                   oks_threshold)
    return poses.select(np.sort(keep))


@dataclass
class Profile:
    """Seconds spent per stage (decode, detect, pose, nms, track, write)."""

    seconds: dict = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


def _batches(info: VideoInfo, size: int, max_frames: int | None, profile: Profile) -> Iterator[list[Frame]]:
    batch, t = [], time.perf_counter()
    for item in iter_timed_frames(info, max_frames):
        batch.append(item)
        if len(batch) == size:
            profile.add("decode", t)
            yield batch
            batch, t = [], time.perf_counter()
    if batch:
        profile.add("decode", t)
        yield batch


class BoxSource(Protocol):
    """Person boxes supplied from outside (a detections file, ground truth) for the frames of one video."""

    def boxes(self, info: VideoInfo, frames: list[Frame]) -> list[Detections]: ...


def detect_frames(stages: Stages, tracker: PoseTracker, info: VideoInfo, batch: list[Frame]) -> list[Detections]:
    """The supplied boxes, or the ensemble's; with box propagation (one frame at a time) the tracker's moved boxes
    join the NMS."""
    frames = [f.image for f in batch]
    dets = stages.boxes.boxes(info, batch) if stages.boxes is not None else stages.detector.detect(frames)
    cfg = stages.config
    if not cfg.track.box_propagation:
        return dets
    tracker.advance(frames[0])
    extra = keep_plausible(tracker.candidate_boxes(cfg.track.keypoint_threshold), 0.0, cfg.detect.min_box_height,
                           frames[0].shape)
    extra = Detections(extra.boxes_xyxy, extra.scores, np.full(len(extra), len(cfg.detect.detectors), np.int16))
    return [fuse([dets[0], extra], cfg.detect.nms_iou)]


def smooth_tracks(smoother, tracks: Tracks, time_s: float) -> Tracks:
    """One-Euro smoothed keypoints (``--smooth``); ids and boxes unchanged."""
    p = tracks.poses
    keypoints = smoother.update(tracks.track_ids, p.keypoints, time_s)
    return Tracks(Poses(p.boxes_xyxy, p.box_scores, keypoints, p.scores, p.skeleton), tracks.track_ids,
                  tracks.pose_index)


def track_video(info: VideoInfo, stages: Stages, stream: native.JsonlStream, profile: Profile,
                on_frames: Callable[[int], None] | None = None) -> tuple[int, float]:
    """The frame loop. Every finished frame is appended to ``stream`` at once.
    Returns (frames processed, time of the last one in seconds)."""
    cfg = stages.config
    tracker = stages.new_tracker()
    smoother = KeypointSmoother(fps=info.fps) if cfg.track.smoothing else None
    batch_size = 1 if cfg.track.box_propagation else cfg.frame_batch  # propagated boxes need frame t-1 tracked
    done, last_time = 0, -1.0
    for batch in _batches(info, batch_size, cfg.max_frames, profile):
        frames = [f.image for f in batch]
        t = time.perf_counter()
        dets = detect_frames(stages, tracker, info, batch)
        t = profile.add("detect", t)
        poses = stages.estimator.estimate(frames, dets)
        t = profile.add("pose", t)
        poses = [suppress_poses(p, cfg.pose.min_pose_score, cfg.pose.oks_nms) for p in poses]
        t = profile.add("nms", t)
        for frame, p in zip(batch, poses):
            tracks = tracker.update(frame.image, p)
            if smoother is not None:
                tracks = smooth_tracks(smoother, tracks, frame.time_s)
            t = profile.add("track", t)
            stream.write(FrameResult(frame.index, frame.time_s, tracks))
            t = profile.add("write", t)
        done, last_time = done + len(batch), batch[-1].time_s
        if on_frames:
            on_frames(len(batch))
    return done, last_time


@dataclass
class VideoResult:
    video: str
    output: str
    status: str  # "done" or "failed" here; batch adds "skipped" and "interrupted"
    frames: int = 0
    people: int = 0
    tracks: int = 0
    seconds: float = 0.0
    warning: str = ""
    error: str = ""
    profile: dict = field(default_factory=dict)


def run_video(path: str | Path, out_json: str | Path, stages: Stages, render: str | Path | None = None,
              on_start: Callable[[VideoInfo], None] | None = None,
              on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Track one video into ``out_json`` (plus its ``.jsonl`` stream, other formats and an optional overlay)."""
    from posetrack_cli.export import write_extra_formats
    from posetrack_cli.render import render_video

    start = time.perf_counter()
    info = probe(path)
    if on_start:
        on_start(info, stages.config.max_frames)
    out_json = Path(out_json)
    profile = Profile()
    header = {"video": info.to_dict(), "models": stages.models(), "config": _config_dict(stages.config)}
    with native.JsonlStream(out_json.with_suffix(".jsonl"), header) as stream:
        frames, last_time = track_video(info, stages, stream, profile, on_frames)
        warning = truncation_note(info, frames, last_time, stages.config.max_frames)
        stream.finish(truncated=bool(warning))
    t = time.perf_counter()
    final = native.read_stream(stream.path)
    stats = native.write_tracks_json(final, out_json, stages.config.track.min_track_length)
    write_extra_formats(final, out_json, stages.config, info)
    if render:
        frames_iter, _ = native.final_frames(final, stages.config.track.min_track_length)
        skeleton = stages.estimator.skeleton.name
        render_video(info, (native.frame_from_dict(f, skeleton) for f in frames_iter), render,
                     max_frames=stages.config.max_frames)
    profile.add("write", t)
    return VideoResult(str(path), str(out_json), "done", frames, stats["people"], stats["tracks"],
                       time.perf_counter() - start, warning, profile=dict(profile.seconds))


def _config_dict(config: PipelineConfig) -> dict:
    from dataclasses import asdict

    return asdict(config)

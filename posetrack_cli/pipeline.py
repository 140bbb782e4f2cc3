"""Build the stages from a ``PipelineConfig`` and run the frame loop:
detect (ensemble + NMS 0.6) -> top-down pose -> OKS-NMS 0.4 -> track -> JSON Lines stream -> final outputs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS, PipelineConfig, PoseConfig
from posetrack_cli.detect.base import Detector, keep_plausible
from posetrack_cli.detect.ensemble import build_detector, fuse
from posetrack_cli.detect.yolo import local_yolo_weights
from posetrack_cli.device import flow_thread_on, resolve_device
from posetrack_cli.export import native, write_extra_formats
from posetrack_cli.geometry import box_areas, oks_nms
from posetrack_cli.io.background import BackgroundWriter, prefetch
from posetrack_cli.io.download import Progress
from posetrack_cli.io.sources import iter_timed_frames, probe, truncation_note
from posetrack_cli.nets.forward_time import ForwardClock
from posetrack_cli.pose.base import PoseEstimator
from posetrack_cli.pose.topdown import TopDownEstimator
from posetrack_cli.pose.yolo_crop import YoloCropEstimator
from posetrack_cli.records import SKELETONS, Detections, Frame, FrameResult, Poses, Tracks, VideoInfo
from posetrack_cli.render import render_video
from posetrack_cli.track.propagate import make_propagator
from posetrack_cli.track.refine import refine_tracks, settings
from posetrack_cli.track.refine.appearance import AppearanceBank
from posetrack_cli.track.smoothing import KeypointSmoother
from posetrack_cli.track.tracker import PoseTracker
from posetrack_cli.zoo import DEFAULT_CARD, choose_auto, resolve_path

log = logging.getLogger(__name__)


@dataclass
class Stages:
    """What persists across videos: models are loaded once for a whole folder."""

    detector: Detector | None  # None when every box is supplied (``boxes``)
    estimator: PoseEstimator
    config: PipelineConfig
    boxes: BoxSource | None = None  # supplied person boxes (``--boxes``) instead of the detectors

    def new_tracker(self) -> PoseTracker:
        t = self.config.track
        return PoseTracker(t, make_propagator(t.flow, t.flow_scale, t.flow_check))

    def models(self) -> dict:
        return {"detectors": box_source_names(self.config, self.boxes), "pose": self.estimator.name,
                "skeleton": self.estimator.skeleton.name}


def box_source_names(config: PipelineConfig, boxes: BoxSource | None) -> list[str]:
    """What made the boxes, as outputs record it (``models.detectors``): the configured detectors, or
    ``["supplied:<file>"]`` for supplied boxes."""
    return [getattr(boxes, "name", "supplied")] if boxes is not None else list(config.detect.detectors)


def build_estimator(config: PipelineConfig, device: str, download: Progress | None = None) -> PoseEstimator:
    """The chosen pose model. ``auto`` takes the best model card whose weights are present (or the default MSPN
    card with ``--pose-weights``), else downloads the default card's weights (online; ``download`` sees the bytes),
    else falls back to the bundled YOLO crop estimator, saying why in one line."""
    pose = config.pose
    yolo_weights = resolve_path(config.detect.yolo_weights, DEFAULT_YOLO_WEIGHTS)
    speed = dict(runtime=pose.runtime, cpu_bf16=pose.bf16)
    if pose.model == "yolo-crop":
        return _yolo_crop(yolo_weights, pose, device)
    if pose.model != "auto":
        return TopDownEstimator.from_card(pose.model, pose, resolve_device(device), weights=pose.weights, **speed)
    if pose.weights:  # a file of the default card
        return TopDownEstimator.from_card(DEFAULT_CARD, pose, resolve_device(device), weights=pose.weights, **speed)
    choice = choose_auto(config.offline, download)
    if choice.card is None:
        log.warning("%s", choice.note)
        return _yolo_crop(yolo_weights, pose, device)
    return TopDownEstimator.from_card(choice.card.name, pose, resolve_device(device), **speed)


def _yolo_crop(weights: Path, pose: PoseConfig, device: str) -> PoseEstimator:
    if pose.runtime not in ("auto", "torch"):
        log.warning("pose runtime %r applies to MSPN/MDPN models only; yolo-crop runs on PyTorch", pose.runtime)
    return YoloCropEstimator(weights, pose, device, bf16=pose.bf16)


def build_stages(config: PipelineConfig, boxes: BoxSource | None = None,
                 download: Progress | None = None) -> Stages:
    """The models; with supplied ``boxes`` (``--boxes``) no detector is loaded. Weights that are not present are
    downloaded unless ``config.offline`` (``download`` sees the bytes of the pose weights)."""
    device = str(resolve_device(config.device))
    uses_yolo = (boxes is None and "yolo" in config.detect.detectors) or config.pose.model in ("auto", "yolo-crop")
    local = config.with_(detect=local_yolo_weights(config.detect, config.offline)) if uses_yolo else config
    detector = build_detector(local.detect, device) if boxes is None else None
    return Stages(detector, build_estimator(local, device, download), config, boxes)


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
    """Seconds the frame loop spends per stage (decode, detect, pose, nms, track, write), plus the seconds inside
    network forwards (``forward``, measured by ``forward_time.ForwardClock``; they lie inside detect and pose).

    With prefetch (``PipelineConfig.prefetch`` > 0) decoding and writing run in threads beside the loop: "decode"
    is then the time the loop waits for decoded frames and "write" the time it waits for the writer."""

    seconds: dict = field(default_factory=lambda: defaultdict(float))
    forward: float = 0.0

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


def _grouped(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    """Consecutive lists of ``size`` frames (the last may be shorter); closes ``frames`` when closed."""
    with contextlib.closing(frames):
        batch = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def _stop(max_frames: int | None, stop: int | None) -> int | None:
    return stop if max_frames is None else max_frames if stop is None else min(max_frames, stop)


def _batches(info: VideoInfo, size: int, max_frames: int | None, profile: Profile, depth: int = 0,
             start: int = 0) -> Iterator[list[Frame]]:
    """Batches of decoded frames; with ``depth`` > 0 a reader thread decodes up to ``depth`` batches ahead
    (errors, such as an undecodable file, are raised here as if decoded in this thread)."""
    batches = prefetch(_grouped(iter_timed_frames(info, max_frames, start), size), depth)
    with contextlib.closing(batches):
        while True:
            t = time.perf_counter()
            batch = next(batches, None)
            profile.add("decode", t)
            if batch is None:
                return
            yield batch


class BoxSource(Protocol):
    """Person boxes supplied from outside (a detections file, ground truth) for the frames of one video."""

    def boxes(self, info: VideoInfo, frames: list[Frame]) -> list[Detections]: ...


def detect_frames(stages: Stages, tracker: PoseTracker, info: VideoInfo, batch: list[Frame],
                  run_detector: bool = True) -> list[Detections]:
    """The supplied boxes, or the ensemble's; with box propagation (one frame at a time) the tracker's moved boxes
    join the NMS. Without ``run_detector`` (the frames between two detector frames, ``DetectConfig.every``) the
    moved boxes are the only ones."""
    frames = [f.image for f in batch]
    cfg = stages.config
    if not run_detector:
        dets = [Detections.empty()]
    else:
        dets = stages.boxes.boxes(info, batch) if stages.boxes is not None else stages.detector.detect(frames)
    if not cfg.track.box_propagation and run_detector:
        return dets
    tracker.advance(frames[0])
    extra = keep_plausible(tracker.candidate_boxes(cfg.track.keypoint_threshold), 0.0, cfg.detect.min_box_height,
                           frames[0].shape)
    return [fuse([dets[0], extra.with_source(len(cfg.detect.detectors))], cfg.detect.nms_iou)]


def smooth_tracks(smoother, tracks: Tracks, time_s: float) -> Tracks:
    """One-Euro smoothed keypoints (``--smooth``); ids and boxes unchanged."""
    p = tracks.poses
    keypoints = smoother.update(tracks.track_ids, p.keypoints, time_s)
    return Tracks(Poses(p.boxes_xyxy, p.box_scores, keypoints, p.scores, p.skeleton), tracks.track_ids,
                  tracks.pose_index)


def track_video(info: VideoInfo, stages: Stages, stream: native.JsonlStream, profile: Profile,
                on_frames: Callable[[int], None] | None = None, start: int = 0,
                stop: int | None = None, appearance: AppearanceBank | None = None) -> tuple[int, float]:
    """The frame loop. Every finished frame is appended to ``stream`` as soon as it is tracked (with prefetch, by a
    writer thread that is drained before this returns or raises: an interrupted run keeps every finished frame).
    ``start``/``stop``: only the frames ``[start, stop)`` (a chunk of a long video; ``start`` a keyframe), with a
    fresh tracker; ``appearance`` gathers colour histograms per track for refinement. Returns (frames processed, time
    of the last one in seconds)."""
    cfg = stages.config
    tracker = stages.new_tracker()
    smoother = KeypointSmoother(fps=info.fps) if cfg.track.smoothing else None
    batch_size = one_at_a_time(cfg) or cfg.frame_batch
    look_ahead = flow_thread_on(cfg.flow_thread, str(resolve_device(cfg.device)))
    done, last_time = 0, -1.0
    clock = ForwardClock()
    writer = BackgroundWriter(stream.write, cfg.prefetch * batch_size)
    try:
        timing = clock.attached(stages.detector, stages.estimator) if cfg.time_forwards else contextlib.nullcontext()
        with timing, writer, \
                contextlib.closing(_batches(info, batch_size, _stop(cfg.max_frames, stop), profile,
                                          _decode_ahead(cfg.prefetch, look_ahead), start)) as batches:
            for batch, upcoming in _with_next(batches, look_ahead):
                results = track_batch(stages, tracker, smoother, info, batch, profile, appearance,
                                      run_detector=(done + start) % cfg.detect.every == 0, upcoming=upcoming)
                t = time.perf_counter()
                for result in results:
                    writer.submit(result)
                profile.add("write", t)
                done, last_time = done + len(batch), batch[-1].time_s
                if on_frames:
                    on_frames(len(batch))
            t = time.perf_counter()
        profile.add("write", t)  # the writer's last frames
    finally:
        profile.forward += clock.seconds
        tracker.close()
    return done, last_time


def _decode_ahead(prefetch: int, look_ahead: bool) -> int:
    """Batches the reader decodes ahead: with the flow thread the loop holds the next batch besides the current one
    (its flow is computed meanwhile), so the reader decodes one batch less: as many frames in flight as ``prefetch``
    says (at least one batch ahead while prefetch is on)."""
    return max(prefetch - 1, min(prefetch, 1)) if look_ahead else prefetch


def _with_next(batches: Iterator[list[Frame]], look_ahead: bool) -> Iterator[tuple[list[Frame], list[Frame]]]:
    """(batch, the next batch) pairs; the next is [] at the end, and always without ``look_ahead``. A reader error
    met while looking ahead is raised after the batch in hand has been handed out (its frames are kept)."""
    batch = next(batches, None)
    while batch is not None:
        if not look_ahead:
            yield batch, []
            batch = next(batches, None)
            continue
        try:
            following = next(batches, None)
        except Exception:
            yield batch, []
            raise
        yield batch, following or []
        batch = following


def one_at_a_time(config: PipelineConfig) -> int:
    """1 when frames must go through the pipeline one by one: propagated boxes need frame t-1 tracked (box
    propagation, a detector every k-th frame); else 0."""
    return int(config.track.box_propagation or config.detect.every > 1)


def track_batch(stages: Stages, tracker: PoseTracker, smoother: KeypointSmoother | None, info: VideoInfo,
                batch: list[Frame], profile: Profile, appearance: AppearanceBank | None = None,
                run_detector: bool = True, upcoming: list[Frame] = ()) -> list[FrameResult]:
    """Detect (unless ``run_detector`` is off: moved boxes only), estimate poses, OKS-NMS and track one batch of
    frames; ``appearance`` gathers the tracks' colour histograms for the refinement pass. ``upcoming``: the frames of
    the next batch, whose optical flow (and this batch's) a worker thread computes meanwhile (same tracks)."""
    cfg = stages.config
    t = time.perf_counter()
    if upcoming:
        tracker.prepare([f.image for f in batch])  # the flows into this batch run during its detection and pose
    dets = detect_frames(stages, tracker, info, batch, run_detector)
    t = profile.add("detect", t)
    if upcoming:
        tracker.prepare([f.image for f in upcoming])  # and into the next batch (box propagation: during this pose)
    poses = stages.estimator.estimate([f.image for f in batch], dets)
    t = profile.add("pose", t)
    poses = [suppress_poses(p, cfg.pose.min_pose_score, cfg.pose.oks_nms) for p in poses]
    t = profile.add("nms", t)
    results = []
    for frame, p in zip(batch, poses):
        tracks = tracker.update(frame.image, p)
        if appearance is not None:
            appearance.add(frame.image, tracks.track_ids, tracks.poses.boxes_xyxy, tracks.poses.box_scores,
                           frame.index)
        if smoother is not None:
            tracks = smooth_tracks(smoother, tracks, frame.time_s)
        results.append(FrameResult(frame.index, frame.time_s, tracks))
    profile.add("track", t)
    return results


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
    profile: dict = field(default_factory=dict)  # seconds per stage of the frame loop (``Profile.seconds``)
    forward_seconds: float = 0.0  # of ``seconds``, those inside network forwards (the rest is overhead)


def run_video(path: str | Path, out_json: str | Path, stages: Stages, render: str | Path | None = None,
              on_start: Callable[[VideoInfo], None] | None = None,
              on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Track one video (or image-sequence folder, at ``config.sequence_fps``) into ``out_json`` (plus its ``.jsonl``
    stream, other formats and an optional overlay)."""
    start = time.perf_counter()
    info = probe(path, stages.config.sequence_fps)
    if on_start:
        on_start(info, stages.config.max_frames)
    out_json = Path(out_json)
    profile = Profile()
    header = {"video": info.to_dict(), "models": stages.models(), "config": result_config(stages.config)}
    appearance = AppearanceBank() if stages.config.refine.enabled else None
    with native.JsonlStream(out_json.with_suffix(".jsonl"), header, info.frame_names) as stream:
        frames, last_time = track_video(info, stages, stream, profile, on_frames, appearance=appearance)
        warning = truncation_note(info, frames, last_time, stages.config.max_frames)
        stream.finish(truncated=bool(warning))
    t = time.perf_counter()
    stats = write_outputs(info, out_json, stages.config, render, appearance.histograms() if appearance else None)
    profile.add("write", t)
    return VideoResult(str(path), str(out_json), "done", frames, stats["people"], stats["tracks"],
                       time.perf_counter() - start, warning, profile=dict(profile.seconds),
                       forward_seconds=profile.forward)


def write_outputs(info: VideoInfo, out_json: Path, config: PipelineConfig, render: str | Path | None,
                  appearance: dict | None = None, stream_path: Path | None = None) -> dict:
    """From the finished ``.jsonl`` stream beside ``out_json`` (or at ``stream_path``): the final tracks.json
    (tracklets pruned; refined when ``config.refine.enabled``, the stream keeping the online tracks), the other
    formats and the overlay. Returns the tracks.json ``stats``. ``appearance``: track id -> histogram gathered during
    the run, for stitching."""
    final = native.read_stream(stream_path or out_json.with_suffix(".jsonl"))
    with contextlib.ExitStack() as cleanup:
        if config.refine.enabled:
            refined = out_json.with_suffix(".refined.jsonl")
            cleanup.callback(refined.unlink, missing_ok=True)
            final = refine_stream(final, refined, config, appearance)
        stats = native.write_tracks_json(final, out_json, config.track.min_track_length)
        write_extra_formats(final, out_json, config, info)
        if render:
            frames, _ = native.final_frames(final, config.track.min_track_length)
            skeleton = final.header["models"]["skeleton"]
            render_video(info, (native.frame_from_dict(f, skeleton) for f in frames), render,
                         max_frames=config.max_frames)
    return stats


def refine_stream(stream: native.Stream, path: Path, config: PipelineConfig,
                  appearance: dict | None = None) -> native.Stream:
    """The refinement pass (``track.refine``) over a finished stream, written as a stream at ``path`` whose header
    records the settings (``refine``) and whose end line the pass's counts; entries made by gap filling carry
    ``"interpolated": true``. Needs no video: ``posetrack refine`` runs it on an existing result."""
    skeleton = stream.header["models"]["skeleton"]
    dicts = list(stream.frames())
    results = [native.frame_from_dict(d, skeleton) for d in dicts]
    refined = refine_tracks(results, float(stream.header["video"]["fps"]), config.refine, SKELETONS[skeleton],
                            config.track.min_track_length, appearance)
    names = {d["frame_index"]: d["name"] for d in dicts if "name" in d}
    frame_names = tuple(names.get(k, "") for k in range(max(names) + 1)) if names else ()
    header = {**{k: v for k, v in stream.header.items() if k not in ("type", "schema")},
              "refine": settings(config.refine)}
    with native.JsonlStream(path, header, frame_names) as out:
        for result, flags in zip(refined.results, refined.interpolated):
            out.write(result, flags)
        if stream.end is not None:
            out.finish(**{k: v for k, v in stream.end.items() if k not in ("type", "frames")}, refine=refined.stats)
    return native.read_stream(path)


RUN_ONLY_FIELDS = ("prefetch", "flow_thread", "time_forwards", "offline")  # settings that change how fast a run is
# (or whether it may download weights), never its results: the models that ran are recorded under ``models``


OMITTED_AT_DEFAULT = {("detect", "every"): 1}  # settings added later, recorded only when changed: the outputs of
# the default method keep their bytes, and earlier outputs still count as finished for ``--resume``


def result_config(config: PipelineConfig) -> dict:
    """The settings recorded in every output (and compared by ``--resume``): all but ``RUN_ONLY_FIELDS``, so the
    same inputs give the same bytes however the run was tuned."""
    from dataclasses import asdict

    # refinement changes the final outputs, not the stream that --resume compares: refined outputs record its
    # settings under "refine" (refine_stream), and --no-refine outputs stay those of the online tracker
    recorded = {k: v for k, v in asdict(config).items() if k not in RUN_ONLY_FIELDS and k != "refine"}
    for (section, name), default in OMITTED_AT_DEFAULT.items():
        if recorded[section].get(name) == default:
            del recorded[section][name]
    return recorded

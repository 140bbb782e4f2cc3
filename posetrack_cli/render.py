"""Overlay drawing: a pure function frame + tracked poses -> frame, with one colour per track id (OpenCV only)."""

from __future__ import annotations

import colorsys
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from posetrack_cli.io import ffmpeg
from posetrack_cli.io.sources import iter_frames
from posetrack_cli.io.video import VideoSink
from posetrack_cli.records import FrameResult, VideoInfo

log = logging.getLogger(__name__)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour for a track id (golden-ratio hue steps)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_tracks(frame: np.ndarray, result: FrameResult, keypoint_threshold: float = 0.3) -> np.ndarray:
    """Draw boxes, skeletons (keypoints above ``keypoint_threshold``) and ids on a copy of ``frame``."""
    out = frame.copy()
    poses = result.tracks.poses
    thickness = max(1, round(min(frame.shape[:2]) / 360))
    for i, tid in enumerate(result.tracks.track_ids):
        color = track_color(int(tid))
        x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes_xyxy[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        kp = poses.keypoints[i]
        visible = kp[:, 2] > keypoint_threshold
        for a, b in poses.skeleton.links:
            if visible[a] and visible[b]:
                cv2.line(out, (int(kp[a, 0]), int(kp[a, 1])), (int(kp[b, 0]), int(kp[b, 1])), color, thickness,
                         cv2.LINE_AA)
        for x, y, _ in kp[visible]:
            cv2.circle(out, (int(x), int(y)), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
        label = f"id {int(tid)}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, 1)
        cv2.rectangle(out, (x1, max(0, y1 - th - 4)), (x1 + tw + 2, max(th + 4, y1)), color, -1)
        cv2.putText(out, label, (x1 + 1, max(th + 2, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out


def render_video(info: VideoInfo, results: Iterable[FrameResult], out_path: str | os.PathLike,
                 keypoint_threshold: float = 0.3, max_frames: int | None = None) -> int:
    """Decode the video again and write every frame with its tracks drawn, at the source fps and (upright) size.
    Frames without a result are written unchanged; ``max_frames`` stops where tracking stopped. An .mp4 is H.264 with
    the source's audio when ffmpeg is present (see ``VideoSink``); if the H.264 encoder fails, the overlay is written
    again as mp4v through OpenCV (with a warning). An image sequence gives a silent video at its ``fps``, one overlay
    frame per image: an image tracking skipped (unreadable, or of another size) becomes a dark frame naming it, so
    that overlay frame k is still image k. Returns the number of frames written."""
    results = list(results)  # a second pass may be needed
    audio = info.path if info.kind == "video" else None  # a folder of frames has no audio
    try:
        return _write_overlay(info, results, Path(out_path), keypoint_threshold, max_frames, audio, h264=True)
    except ffmpeg.MediaError as exc:
        log.warning("H.264 encoding of %s failed (%s); writing it as MPEG-4 part 2 (mp4v)", out_path, exc)
        return _write_overlay(info, results, Path(out_path), keypoint_threshold, max_frames, audio, h264=False)


def _write_overlay(info: VideoInfo, results: list[FrameResult], out_path: Path, keypoint_threshold: float,
                   max_frames: int | None, audio: str | None, h264: bool) -> int:
    by_index: Iterator[FrameResult] = iter(results)
    pending = next(by_index, None)
    positions = len(info.frame_names) if info.kind == "frames" else 0
    if max_frames is not None:
        positions = min(positions, max_frames)
    expected = 0  # the next sequence position to write
    with VideoSink(out_path, info.fps, (info.width, info.height), audio_from=audio, h264=h264) as sink:
        for index, frame in iter_frames(info, max_frames):
            if info.kind == "frames":  # images skipped by the decoder before this one
                for missing in range(expected, index):
                    sink.write(unreadable_frame(info, missing))
            expected = index + 1
            while pending is not None and pending.frame_index < index:
                pending = next(by_index, None)
            if pending is not None and pending.frame_index == index:
                frame = draw_tracks(frame, pending, keypoint_threshold)
            sink.write(frame)
        for missing in range(expected, positions):  # unreadable images at the end of a sequence
            sink.write(unreadable_frame(info, missing))
        return sink.frames_written


def unreadable_frame(info: VideoInfo, position: int) -> np.ndarray:
    """The overlay frame standing in for a skipped image of a sequence (unreadable, or of another size): dark grey,
    naming the image."""
    frame = np.full((info.height, info.width, 3), 32, np.uint8)
    scale = max(0.4, min(info.width, info.height) / 720)
    label = f"skipped image: {info.frame_names[position]}"
    cv2.putText(frame, label, (10, max(20, info.height // 2)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                1, cv2.LINE_AA)
    return frame

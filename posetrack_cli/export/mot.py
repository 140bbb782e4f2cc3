"""MOTChallenge tracking results (``--format mot``): the text format that MOT evaluation kits (TrackEval,
py-motmetrics' ``loadtxt(fmt="mot15-2D")``) read, one line per tracked person and frame::

    frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1

``frame`` and the box corner are 1-based, as MOTChallenge counts frames and pixels from 1 (readers subtract 1:
py-motmetrics' ``loadtxt``); the box size is in pixels; ``conf`` is the pose score.
People whose box score is below ``OutputConfig.box_threshold`` are left out, as in the PoseTrack exports.
"""

from __future__ import annotations

import os
from typing import Iterable

from posetrack_cli.config import OutputConfig
from posetrack_cli.io.files import atomic_write
from posetrack_cli.records import FrameResult, VideoInfo


def mot_lines(frames: Iterable[FrameResult], box_threshold: float) -> Iterable[str]:
    for result in frames:
        poses = result.tracks.poses
        for i, track_id in enumerate(result.tracks.track_ids):
            if poses.box_scores[i] < box_threshold:
                continue
            x1, y1, x2, y2 = (float(v) for v in poses.boxes_xyxy[i])
            yield (f"{result.frame_index + 1},{int(track_id)},{x1 + 1:.2f},{y1 + 1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                   f"{float(poses.scores[i]):.4f},-1,-1,-1\n")


def write_mot(path: str | os.PathLike, frames: Iterable[FrameResult], info: VideoInfo, config: OutputConfig) -> None:
    """Write the MOTChallenge lines of ``frames`` atomically."""
    with atomic_write(path) as fh:
        fh.writelines(mot_lines(frames, config.box_threshold))

"""COCO keypoint results (the list ``pycocotools`` ``loadRes`` reads): one entry per exported person.

Entry: ``{"image_id", "category_id": 1, "keypoints": [x, y, score] * 17, "score"}``; no ``bbox`` on purpose, so that
``loadRes`` takes the keypoint branch (area from the keypoint extent), as for COCO keypoint submissions.
``OutputConfig.box_threshold`` drops people; ``keypoint_threshold`` is not applied because a COCO result must carry
all 17 keypoints and OKS ignores their scores.
"""

from __future__ import annotations

import os
from typing import Iterable

from posetrack_cli.config import OutputConfig
from posetrack_cli.errors import OutputError
from posetrack_cli.io.files import write_json
from posetrack_cli.records import COCO17, FrameResult, Poses, VideoInfo, coco17_part


def coco_results(frames: Iterable[FrameResult], config: OutputConfig, image_ids: list[int] | None = None
                 ) -> list[dict]:
    """COCO result entries of ``frames``; image id = ``image_ids[frame_index]`` or the frame index itself."""
    results = []
    for result in frames:
        poses = result.tracks.poses
        if image_ids is not None and result.frame_index >= len(image_ids):
            raise OutputError(f"frame {result.frame_index} has no COCO image id ({len(image_ids)} ids given)")
        image = int(image_ids[result.frame_index]) if image_ids is not None else int(result.frame_index)
        results += pose_entries(poses, image, config.box_threshold)
    return results


def pose_entries(poses: Poses, image_id: int, box_threshold: float = 0.0) -> list[dict]:
    """The COCO result entries of one image's poses (people whose box score is below ``box_threshold`` left out):
    keypoints flat ``[x, y, score] * 17`` (pixels to 0.01, scores to 1e-4), ``score`` = the re-scored pose score.
    Poses with more joints after the COCO-17 ones (MDPN's head_top and neck) give their COCO-17 part."""
    if len(poses) and not coco17_part(poses.skeleton):
        raise OutputError(f"COCO results need COCO-17 keypoints; the pose model gives {poses.skeleton.name}")
    entries = []
    for i in range(len(poses)):
        if poses.box_scores[i] < box_threshold:
            continue
        flat = [round(float(v), 2 if c < 2 else 4) for kp in poses.keypoints[i, :COCO17.num_keypoints]
                for c, v in enumerate(kp)]
        entries.append({"image_id": int(image_id), "category_id": 1, "keypoints": flat,
                        "score": round(float(poses.scores[i]), 4)})
    return entries


def write_results_list(path: str | os.PathLike, results: list[dict]) -> None:
    """Write a COCO results list atomically (a temporary name, then renamed)."""
    write_json(path, results)


def write_coco_results(path: str | os.PathLike, frames: Iterable[FrameResult], info: VideoInfo,
                       config: OutputConfig, image_ids: list[int] | None = None) -> None:
    """Write the COCO keypoint results of one video (``info`` is unused: COCO results carry no video fields)."""
    write_results_list(path, coco_results(frames, config, image_ids))

"""PoseTrack 2017 (``annolist``) and 2018 (COCO-like) prediction files, one per video, as ``poseval`` reads them.

Format facts (POSETRACK_EVAL.md, poseval ``convert.py``): PT17 joint ids 0..14 with every scalar in a one-element
list, a joint left out = not predicted; PT18 keypoints in COCO slot order with slots 1/2 = head_bottom/head_top and
the ears empty, a joint written ``0, 0, 0`` = not predicted, ``scores`` holds the joint scores; the image
``file_name`` must look like ``images/val/<NNNNNN>_<mpii|bonn|mpiinew>_<split>/<frame>.jpg`` for poseval's PT18
reader (frame < 10000). poseval ignores scores for MOTA, so low-score joints must be left out here
(``OutputConfig.keypoint_threshold``) and weak people too (``OutputConfig.box_threshold``).

Track ids: ours are >= 1 and unbounded; poseval needs 0 <= id < 10000. Each file renumbers its tracks densely in order
of first exported appearance (first track -> 0, next new track -> 1, ...); past 10000 tracks in one video the index
wraps modulo 10000 (logged). Frames are written for every position so that entry k is video frame k.

Image sequences (a folder of frames, ``VideoInfo.kind == "frames"``): every image of the folder gets an entry (also
past ``--max-frames`` and where an image was skipped), named as in the PoseTrack GT, ``images/<split>/<folder>/<file>``
(split = the parent folder's name under an ``images`` folder, else ``val``), so that a run on
``images/val/000342_mpii_test`` gives the GT's file names, image ids and frame count.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from posetrack_cli.config import OutputConfig
from posetrack_cli.io.files import write_json
from posetrack_cli.records import (
    COCO17,
    COCO17_HEAD,
    MAX_TRACK_ID,
    MPII16,
    POSETRACK15,
    PT18_COCO_ORDER,
    PT18_SLOTS,
    FrameResult,
    Poses,
    VideoInfo,
)

log = logging.getLogger(__name__)

# Source joint of each PT17 joint id (-1: synthesised or absent).
COCO17_TO_PT15 = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, -1, 0, -1)
MPII16_TO_PT15 = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, -1, 9)  # upper_neck -> neck; MPII has no nose
# head_top = head centre + HEAD_TOP_EXTENT x (head centre - neck). Head centre = score-weighted mean of eyes and ears,
# which sit about half a head below the crown; the shoulder midpoint sits about 0.95 head heights below them
# (8-head body canon: eyes/ears at 0.5, shoulder line at ~1.45 heads from the crown), so 0.5 / 0.95 ~= 0.55.
HEAD_TOP_EXTENT = 0.55
PT18_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                 (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))  # convert.py to_new
_SEQ_DIR = re.compile(r"^(\d+)_(mpii|bonn|mpiinew)_\w+$")
_SEQ_TYPE = {"mpii": 1, "bonn": 2, "mpiinew": 3}  # poseval posetrack18_id2fname.seqtype2idx


def synthesize_neck_head_top(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 (N, 17, 3) -> neck (N, 3), head_top (N, 3).

    neck = midpoint of the shoulders, score = the lower shoulder score. head_top = head centre (eyes and ears
    weighted by their scores) pushed away from the neck by ``HEAD_TOP_EXTENT``; score = min(neck score, mean
    eye/ear score). Works for any orientation since it follows the neck -> head axis.
    """
    kp = np.asarray(keypoints, np.float64)
    shoulders = kp[:, 5:7]
    neck = np.concatenate([shoulders[:, :, :2].mean(1), shoulders[:, :, 2].min(1, keepdims=True)], axis=1)
    face = kp[:, 1:5]  # left/right eye, left/right ear
    weight = np.clip(face[:, :, 2], 0.0, None) + 1e-6
    centre = (face[:, :, :2] * weight[..., None]).sum(1) / weight.sum(1, keepdims=True)
    top_xy = centre + HEAD_TOP_EXTENT * (centre - neck[:, :2])
    top_score = np.minimum(neck[:, 2], face[:, :, 2].mean(1))
    return neck, np.concatenate([top_xy, top_score[:, None]], axis=1)


def coco17_to_posetrack15(keypoints: np.ndarray, head_joints: np.ndarray | None = None) -> np.ndarray:
    """(N, 17, 3) COCO keypoints -> (N, 15, 3) PoseTrack joints. ``head_joints`` (N, 2, 3) = (neck, head_top) from
    an MDPN PoseTrack head replaces the synthesised pair (MDPN "COCO + PoseTrack branch")."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"coco17_to_posetrack15: expected (N, 17, 3) keypoints, got {kp.shape}")
    out = kp[:, [max(i, 0) for i in COCO17_TO_PT15]].copy()
    if head_joints is None:
        out[:, 12], out[:, 14] = synthesize_neck_head_top(kp)
    else:
        head = np.asarray(head_joints, np.float64)
        if head.shape != (len(kp), 2, 3):
            raise ValueError(f"coco17_to_posetrack15: head_joints must be ({len(kp)}, 2, 3), got {head.shape}")
        out[:, 12], out[:, 14] = head[:, 0], head[:, 1]
    return out


def posetrack15_keypoints(poses: Poses) -> np.ndarray:
    """(N, 15, 3) PoseTrack joints of any supported skeleton; an absent joint has score NaN (never exported)."""
    if poses.skeleton == POSETRACK15:
        return poses.keypoints.astype(np.float64)
    if poses.skeleton == COCO17:
        return coco17_to_posetrack15(poses.keypoints)
    if poses.skeleton == COCO17_HEAD:  # MDPN: its predicted neck and head_top, not synthesised ones
        names = COCO17_HEAD.keypoints
        head = poses.keypoints[:, [names.index("neck"), names.index("head_top")]]
        return coco17_to_posetrack15(poses.keypoints[:, :COCO17.num_keypoints], head)
    if poses.skeleton == MPII16:
        out = poses.keypoints.astype(np.float64)[:, [max(i, 0) for i in MPII16_TO_PT15]]
        out[:, [j for j, i in enumerate(MPII16_TO_PT15) if i < 0], 2] = np.nan
        return out
    raise ValueError(f"no PoseTrack joint mapping for skeleton {poses.skeleton.name}")


class TrackIdMap:
    """Our track ids -> 0..9999, densely in order of first appearance (see the module docstring)."""

    def __init__(self) -> None:
        self._map: dict[int, int] = {}
        self._warned = False

    def __call__(self, track_id: int) -> int:
        tid = int(track_id)
        if tid not in self._map:
            index = len(self._map)
            if index >= MAX_TRACK_ID and not self._warned:
                log.warning("more than %d tracks in one video: PoseTrack ids wrap modulo %d", MAX_TRACK_ID,
                            MAX_TRACK_ID)
                self._warned = True
            self._map[tid] = index % MAX_TRACK_ID
        return self._map[tid]


def exported_people(result: FrameResult, config: OutputConfig, ids: TrackIdMap) -> list[dict]:
    """The people of one frame that pass ``box_threshold`` with their joints that pass ``keypoint_threshold``:
    dicts with track_id (PoseTrack range), box_xyxy, score, joints (15, 3) and keep (15,) bool. People left with
    no joint are not exported."""
    poses = result.tracks.poses
    joints = posetrack15_keypoints(poses)
    people = []
    for i, tid in enumerate(result.tracks.track_ids):
        if poses.box_scores[i] < config.box_threshold:
            continue
        keep = np.isfinite(joints[i, :, 2]) & (joints[i, :, 2] >= config.keypoint_threshold)
        if keep.any():
            people.append({"track_id": ids(tid), "box_xyxy": poses.boxes_xyxy[i].astype(float),
                           "score": float(poses.scores[i]), "joints": joints[i], "keep": keep})
    return people


def sequence_dir(info: VideoInfo) -> str:
    """The PT18 sequence folder: the video's own name when it already is one (``000342_mpii_test``), else
    ``<crc32 of the name mod 10^6>_mpii_test`` so poseval's PT18 reader can parse it. A sequence folder's whole name
    counts (no suffix to strip)."""
    stem = Path(os.path.abspath(info.path)).name if info.kind == "frames" else Path(info.path).stem
    if _SEQ_DIR.match(stem):
        return stem
    return f"{zlib.crc32(stem.encode('utf-8')) % 1_000_000:06d}_mpii_test"


def image_id(name: str, position: int) -> int:
    """poseval ``posetrack18_fname2id`` (type x 10^10 + sequence x 10^4 + frame) when the name follows the PT18
    pattern, else ``position + 1``."""
    folder, stem = os.path.basename(os.path.dirname(name)), os.path.basename(name).split(".")[0]
    m = _SEQ_DIR.match(folder)
    if m and stem.isdigit():
        return _SEQ_TYPE[m.group(2)] * 10_000_000_000 + int(m.group(1)) * 10_000 + int(stem)
    return position + 1


def sequence_frame_names(info: VideoInfo) -> list[str]:
    """PoseTrack GT-style ``file_name`` of every image of a sequence folder: ``images/<split>/<folder>/<file>``
    (``sequence_dir`` when the folder's name is not PoseTrack's; ``<k:06d>.jpg`` for all when a file name is not a
    frame number below 10000, which poseval's PT18 reader needs)."""
    folder = Path(os.path.abspath(info.path))
    split = folder.parent.name if folder.parent.parent.name == "images" and folder.parent.name else "val"
    prefix = f"images/{split}/{sequence_dir(info)}"
    if all(Path(n).stem.isdigit() and int(Path(n).stem) < 10_000 for n in info.frame_names):
        return [f"{prefix}/{n}" for n in info.frame_names]
    return [f"{prefix}/{k:06d}.jpg" for k in range(len(info.frame_names))]


def frame_table(frames: Iterable[FrameResult], info: VideoInfo, frame_names: list[str] | None
                ) -> tuple[list[str], dict[int, FrameResult]]:
    """Every frame position with its name, and the results by frame index (positions without one stay empty)."""
    by_index = {f.frame_index: f for f in frames}
    if frame_names is None and info.kind == "frames":
        frame_names = sequence_frame_names(info)
    if frame_names is None:
        n = max(by_index) + 1 if by_index else 0
        folder = sequence_dir(info)
        frame_names = [f"images/val/{folder}/{k:06d}.jpg" for k in range(n)]
    elif by_index and max(by_index) >= len(frame_names):
        raise ValueError(f"frame {max(by_index)} has no name: {len(frame_names)} frame names given")
    return list(frame_names), by_index


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def _pt17_person(person: dict) -> dict:
    points = [{"id": [j], "x": [_r(x)], "y": [_r(y)], "score": [_r(s, 4)]}
              for j, (x, y, s) in enumerate(person["joints"]) if person["keep"][j]]
    return {"track_id": [person["track_id"]], "score": [_r(person["score"], 4)], "annopoints": [{"point": points}]}


def _pt18_annotation(person: dict, image: int, ann_id: int) -> dict:
    keypoints, scores = [0.0] * 51, [0.0] * 17  # ears and dropped joints stay 0, 0, 0 (= not predicted)
    for j, (x, y, s) in enumerate(person["joints"]):
        if person["keep"][j]:
            slot = PT18_SLOTS[j]
            keypoints[3 * slot:3 * slot + 3] = [_r(x), _r(y), 1]
            scores[slot] = _r(s, 4)
    x1, y1, x2, y2 = person["box_xyxy"]
    return {"id": ann_id, "image_id": image, "track_id": person["track_id"], "category_id": 1,
            "keypoints": keypoints, "scores": scores, "bbox": [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
            "score": _r(person["score"], 4)}


def write_posetrack18(path: str | os.PathLike, frames: Iterable[FrameResult], info: VideoInfo,
                      config: OutputConfig, frame_names: list[str] | None = None) -> None:
    """One PoseTrack 2018 file for one video. ``frame_names``: the GT ``file_name`` of each frame position (to
    evaluate against PoseTrack GT); default ``images/val/<sequence_dir>/<frame:06d>.jpg``."""
    names, by_index = frame_table(frames, info, frame_names)
    if len(names) > 10_000:
        log.warning("%s: %d frames; poseval's PT18 reader accepts frame numbers below 10000 only", path, len(names))
    ids, images, annotations = TrackIdMap(), [], []
    vid = os.path.basename(os.path.dirname(names[0])).split("_")[0] if names else ""
    for k, name in enumerate(names):
        iid = image_id(name, k)
        images.append({"file_name": name, "id": iid, "frame_id": iid, "vid_id": vid, "nframes": len(names),
                       "is_labeled": True, "has_no_densepose": True})
        if k in by_index:
            for person in exported_people(by_index[k], config, ids):
                annotations.append(_pt18_annotation(person, iid, len(annotations) + 1))
    categories = [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(PT18_COCO_ORDER),
                   "skeleton": [list(pair) for pair in PT18_SKELETON]}]
    write_json(path, {"images": images, "annotations": annotations, "categories": categories})


def write_posetrack17(path: str | os.PathLike, frames: Iterable[FrameResult], info: VideoInfo,
                      config: OutputConfig, frame_names: list[str] | None = None) -> None:
    """One PoseTrack 2017 (``annolist``) file for one video; no naming constraints (best for custom videos)."""
    names, by_index = frame_table(frames, info, frame_names)
    ids, annolist = TrackIdMap(), []
    for k, name in enumerate(names):
        people = exported_people(by_index[k], config, ids) if k in by_index else []
        annolist.append({"image": [{"name": name}], "imgnum": [k + 1],
                         "annorect": [_pt17_person(p) for p in people]})
    write_json(path, {"annolist": annolist})

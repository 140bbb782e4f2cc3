"""Typed struct-of-arrays records exchanged between the stages, and the keypoint skeletons as data.

Conventions (STYLE.md principle 8): boxes are ``xyxy`` float32 in original-frame pixels; keypoints are
``(x, y, score)`` float32 in original-frame pixels; every record validates its shapes on construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A keypoint set: names, left/right pairs for flipping, OKS sigmas and drawing links."""

    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]  # OKS per-keypoint sigma (COCO convention: k_i = 2 * sigma_i)
    links: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(self.sigmas) != k:
            raise ValueError(f"skeleton {self.name}: {len(self.sigmas)} sigmas for {k} keypoints")
        for a, b in (*self.flip_pairs, *self.links):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"skeleton {self.name}: pair ({a}, {b}) out of range")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right keypoints: ``flipped[:, perm]`` restores the order."""
        perm = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


# COCO person keypoints; sigmas from pycocotools (cocoeval.py, kpt_oks_sigmas).
COCO17 = Skeleton(
    name="coco17",
    keypoints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
            0.107, 0.107, 0.087, 0.087, 0.089, 0.089),
    links=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
           (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
)

# MPII human pose (16 joints, the order of the MPII annotation and of the top-down code bases).
# MPII has no OKS sigmas; the COCO value of the matching joint is used (0.079 shoulders ... 0.089 ankles),
# thorax/pelvis/neck take the hip/shoulder values and head_top the ear value.
MPII16 = Skeleton(
    name="mpii16",
    keypoints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
        "left_elbow", "left_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.107, 0.079, 0.079, 0.035, 0.062, 0.072, 0.079,
            0.079, 0.072, 0.062),
    links=((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12),
           (12, 7), (13, 7), (13, 14), (14, 15)),
)

# PoseTrack 2017 joint ids 0..14 (POSETRACK_EVAL.md: PT17 joint ids); 12 is "neck" (PT18 head_bottom).
POSETRACK15 = Skeleton(
    name="posetrack15",
    keypoints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
        "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "nose",
        "head_top",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.062, 0.072, 0.079, 0.079, 0.072, 0.062, 0.079,
            0.026, 0.035),
    links=((0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (2, 8), (3, 9), (8, 9), (8, 7), (7, 6), (9, 10),
           (10, 11), (12, 13), (13, 14), (8, 12), (9, 12)),
)

# COCO-17 followed by the two PoseTrack joints COCO lacks, as MDPN predicts them (nets/mdpn.py OUTPUT_KEYPOINTS): the
# poses of an MDPN model, so that OKS-NMS, tracking, the native JSON and the PoseTrack exports all see its predicted
# head_top and neck. Their sigmas are the ones MPII16 / POSETRACK15 above give the same joints (ear, shoulder).
COCO17_HEAD = Skeleton(
    name="coco17_head",
    keypoints=COCO17.keypoints + ("head_top", "neck"),
    flip_pairs=COCO17.flip_pairs,
    sigmas=COCO17.sigmas + (0.035, 0.079),
    links=COCO17.links + ((17, 18), (18, 5), (18, 6)),
)

SKELETONS = {s.name: s for s in (COCO17, MPII16, POSETRACK15, COCO17_HEAD)}


# The PoseTrack formats (read by evaluate/, written by export/).
MAX_TRACK_ID = 10000  # poseval eval_helpers.MAX_TRACK_ID: PoseTrack track ids are 0..9999
# poseval convert.py POSETRACK18_LM_NAMES (index = PT17 joint id) and POSETRACK18_LM_NAMES_COCO_ORDER.
PT18_JOINT_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
                    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom",
                    "nose", "head_top")
PT18_COCO_ORDER = ("nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                   "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                   "right_knee", "left_ankle", "right_ankle")
PT18_SLOTS = tuple(PT18_COCO_ORDER.index(name) for name in PT18_JOINT_NAMES)  # PT17 joint id -> PT18 slot


def coco17_part(skeleton: Skeleton) -> bool:
    """Whether poses of ``skeleton`` start with the 17 COCO keypoints (COCO-17 itself, or COCO-17 + head joints)."""
    return skeleton.keypoints[:COCO17.num_keypoints] == COCO17.keypoints


def _as(array, dtype, shape: tuple, what: str) -> np.ndarray:
    """Convert to a contiguous array of ``dtype`` and check its shape (``-1`` matches any size)."""
    out = np.ascontiguousarray(array, dtype=dtype)
    if out.ndim != len(shape) or any(s != -1 and s != o for s, o in zip(shape, out.shape)):
        raise ValueError(f"{what}: expected shape {shape}, got {out.shape}")
    return out


@dataclass(frozen=True)
class Detections:
    """Person boxes of one frame."""

    boxes_xyxy: np.ndarray  # (N, 4) float32, original-frame pixels
    scores: np.ndarray  # (N,) float32 in [0, 1]
    sources: np.ndarray = field(default=None)  # (N,) int16: index of the detector that produced each box

    def __post_init__(self) -> None:
        boxes = _as(self.boxes_xyxy, np.float32, (-1, 4), "Detections.boxes_xyxy")
        n = len(boxes)
        object.__setattr__(self, "boxes_xyxy", boxes)
        object.__setattr__(self, "scores", _as(self.scores, np.float32, (n,), "Detections.scores"))
        sources = np.zeros(n, np.int16) if self.sources is None else self.sources
        object.__setattr__(self, "sources", _as(sources, np.int16, (n,), "Detections.sources"))

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def select(self, index) -> Detections:
        return Detections(self.boxes_xyxy[index], self.scores[index], self.sources[index])

    def with_source(self, source: int) -> Detections:
        """The same boxes, all marked as coming from detector ``source``."""
        return Detections(self.boxes_xyxy, self.scores, np.full(len(self), source, np.int16))

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """The boxes of all ``parts``, in order, each keeping its source."""
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.boxes_xyxy for p in parts]), np.concatenate([p.scores for p in parts]),
                   np.concatenate([p.sources for p in parts]))


@dataclass(frozen=True)
class Poses:
    """Poses of the people of one frame, top-down from their boxes."""

    boxes_xyxy: np.ndarray  # (N, 4) float32, the person box the pose was estimated in
    box_scores: np.ndarray  # (N,) float32, detector score
    keypoints: np.ndarray  # (N, K, 3) float32: x, y in frame pixels and keypoint score
    scores: np.ndarray  # (N,) float32: re-scored instance score (box score x mean keypoint score)
    skeleton: Skeleton = COCO17

    def __post_init__(self) -> None:
        boxes = _as(self.boxes_xyxy, np.float32, (-1, 4), "Poses.boxes_xyxy")
        n, k = len(boxes), self.skeleton.num_keypoints
        object.__setattr__(self, "boxes_xyxy", boxes)
        object.__setattr__(self, "box_scores", _as(self.box_scores, np.float32, (n,), "Poses.box_scores"))
        object.__setattr__(self, "keypoints", _as(self.keypoints, np.float32, (n, k, 3), "Poses.keypoints"))
        object.__setattr__(self, "scores", _as(self.scores, np.float32, (n,), "Poses.scores"))

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, skeleton: Skeleton = COCO17) -> Poses:
        k = skeleton.num_keypoints
        z = np.zeros(0, np.float32)
        return cls(np.zeros((0, 4), np.float32), z, np.zeros((0, k, 3), np.float32), z, skeleton)

    def select(self, index) -> Poses:
        return Poses(self.boxes_xyxy[index], self.box_scores[index], self.keypoints[index], self.scores[index],
                     self.skeleton)


@dataclass(frozen=True)
class Tracks:
    """Tracked poses of one frame: poses plus a stable id and the index of the input pose each came from."""

    poses: Poses
    track_ids: np.ndarray  # (N,) int64, >= 1
    pose_index: np.ndarray  # (N,) int64: row of the tracker's input ``Poses`` this entry came from

    def __post_init__(self) -> None:
        n = len(self.poses)
        object.__setattr__(self, "track_ids", _as(self.track_ids, np.int64, (n,), "Tracks.track_ids"))
        object.__setattr__(self, "pose_index", _as(self.pose_index, np.int64, (n,), "Tracks.pose_index"))
        if len(np.unique(self.track_ids)) != n:
            raise ValueError("Tracks.track_ids: an id appears twice in one frame")

    def __len__(self) -> int:
        return len(self.track_ids)


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline knows about one frame, as written to the outputs."""

    frame_index: int  # 0-based position in the video
    time_s: float  # presentation time in seconds (frame_index / fps for constant-rate video)
    tracks: Tracks


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # frames per second reported by the container (25 when it reports none); an average for VFR video
    width: int  # pixels of the upright (displayed) frame
    height: int  # pixels of the upright (displayed) frame
    frame_count: int  # frames the container announces (may be 0 or wrong for streams and truncated files)
    rotation: int = 0  # degrees clockwise the decoder turned the stored frames to show them upright (0/90/180/270)
    kind: str = "video"  # "video" (a file) or "frames" (a folder of images: ``path`` is the folder)
    frame_names: tuple[str, ...] = ()  # "frames": the image file names in frame order (frame_count of them)

    def to_dict(self) -> dict:
        return {"path": self.path, "fps": self.fps, "width": self.width, "height": self.height,
                "frame_count": self.frame_count, "rotation": self.rotation, "kind": self.kind}


class Frame(NamedTuple):
    index: int  # 0-based decode order
    time_s: float  # presentation time from the container, seconds from the first frame
    image: np.ndarray  # (H, W, 3) BGR uint8, upright
    name: str = ""  # the frame's file name for an image sequence ("" for a video file)

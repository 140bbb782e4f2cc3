"""The person detector protocol."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from posetrack_cli.records import Detections


class Detector(Protocol):
    """Frames (BGR uint8) -> one ``Detections`` per frame, boxes in original-frame pixels."""

    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


def keep_plausible(dets: Detections, min_score: float, min_box_height: float, frame_shape) -> Detections:
    """Clip boxes to the frame and drop weak or tiny ones (shared by every adapter)."""
    h, w = frame_shape[:2]
    boxes = dets.boxes_xyxy.copy()
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
    keep = (dets.scores >= min_score) & ((boxes[:, 3] - boxes[:, 1]) >= min_box_height) & (boxes[:, 2] > boxes[:, 0])
    return Detections(boxes[keep], dets.scores[keep], dets.sources[keep])

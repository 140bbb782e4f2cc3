"""Ultralytics YOLO adapter: person boxes from a YOLO (pose or detect) checkpoint, loaded from a local file."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from posetrack_cli.errors import WeightsError
from posetrack_cli.records import Detections

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_yolo(path: Path, device: str):
    """Load a YOLO checkpoint from a local file only (never a hub), with a one-line error for a bad file.
    Cached: the detector and the crop pose estimator share one model when they use the same file."""
    if not path.is_file():
        raise WeightsError(f"YOLO weights {path} not found; pass an existing file (bundled: weights/yolo11n-pose.pt)")
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or downloads from Ultralytics code paths
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
    except Exception as exc:  # Ultralytics raises many types for a corrupt file; report it as a weights problem
        raise WeightsError(f"cannot load YOLO weights {path}: {type(exc).__name__}: {exc}".split("\n")[0]) from None
    model.to(device)
    return model


class YoloDetector:
    """Person boxes (class 0) from an Ultralytics model; all frames of a batch in one call."""

    name = "yolo"

    def __init__(self, weights: Path, device: str = "cpu", imgsz: int = 1280, min_score: float = 0.25) -> None:
        self.model = load_yolo(weights, device)
        self.device = device
        self.imgsz = imgsz
        self.min_score = min_score

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        results = self.model.predict(list(frames), imgsz=self.imgsz, conf=self.min_score, classes=[0],
                                     device=self.device, verbose=False)
        out = []
        for r in results:
            boxes = r.boxes
            out.append(Detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy()))
        return out

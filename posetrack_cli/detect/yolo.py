"""Ultralytics YOLO person detector: boxes (class 0) from a YOLO (pose or detect) checkpoint (``nets.yolo``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from posetrack_cli.nets.yolo import load_yolo, predict
from posetrack_cli.records import Detections

log = logging.getLogger(__name__)


class YoloDetector:
    """Person boxes (class 0) from an Ultralytics model; all frames of a batch in one call.

    ``bf16``: bf16 autocast on CPUs with native bf16 (AMX): about 1.9x faster at imgsz 960 on the benchmark
    machine with the same boxes on the bundled clip (benchmarks/RESULTS.md; tests/pose/test_speed_paths.py)."""

    name = "yolo"

    def __init__(self, weights: Path, device: str = "cpu", imgsz: int = 1280, min_score: float = 0.25, *,
                 bf16: bool = False) -> None:
        self.model = load_yolo(weights, device)
        self.device = device
        self.imgsz = imgsz
        self.min_score = min_score
        self.bf16 = bf16

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        results = predict(self.model, frames, self.device, self.bf16, imgsz=self.imgsz, conf=self.min_score,
                          classes=[0])
        out = []
        for r in results:
            boxes = r.boxes
            out.append(Detections(boxes.xyxy.float().cpu().numpy(), boxes.conf.float().cpu().numpy()))
        return out

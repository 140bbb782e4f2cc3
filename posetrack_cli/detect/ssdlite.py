"""SSDLite-MobileNetV2 person detector through ``cv2.dnn`` (TensorFlow frozen graph, no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from posetrack_cli.errors import WeightsError, dependency_calls
from posetrack_cli.records import Detections


def parse_ssd_output(out: np.ndarray, frame_shapes: Sequence[tuple], min_score: float) -> list[Detections]:
    """``cv2.dnn`` DetectionOutput (1, 1, N, 7) rows ``[image_id, class, score, x1, y1, x2, y2]`` with coordinates
    relative to the image -> one ``Detections`` per frame in pixels (the graph has a single class, person)."""
    rows = out.reshape(-1, 7)
    result = []
    for i, shape in enumerate(frame_shapes):
        h, w = shape[:2]
        mine = rows[(rows[:, 0] == i) & (rows[:, 2] >= min_score)]
        boxes = mine[:, 3:7] * np.array([w, h, w, h], np.float32)
        result.append(Detections(boxes, mine[:, 2]))
    return result


def _engine() -> tuple[int, ...]:
    """OpenCV 5's classic dnn engine: the same boxes as its default (new) engine on the bundled clip, ~20% faster for
    a batch of 4 frames on the benchmark machine (69 vs 86 ms per frame, benchmarks/RESULTS.md). OpenCV 4 has only
    the classic engine and no argument for it."""
    engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
    return () if engine is None else (engine,)


_NEEDS = dict(user="SSDLite", hint="--detectors yolo runs without it")  # cv2.dnn's API differs between versions


class SsdLiteDetector:
    name = "ssdlite"

    @dependency_calls(**_NEEDS)
    def __init__(self, graph: Path, text: Path, size: int = 300, min_score: float = 0.25) -> None:
        for path in (graph, text):
            if not path.is_file():
                raise WeightsError(f"SSDLite file {path} not found; bundled: weights/{path.name}")
        try:
            self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(text), *_engine())
        except cv2.error as exc:
            raise WeightsError(f"cannot load SSDLite graph {graph}: {str(exc).strip().splitlines()[-1]}") from None
        self.size = size
        self.min_score = min_score

    @dependency_calls(**_NEEDS)
    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        # RGB 0..255 at 300x300: the text graph keeps the TF "Preprocessor" mul/sub that scales to [-1, 1]
        # (OpenCV's models.yml for TF SSD: scale 1.0, mean 0, rgb true).
        blob = cv2.dnn.blobFromImages(list(frames), scalefactor=1.0, size=(self.size, self.size),
                                      mean=(0, 0, 0), swapRB=True, crop=False)
        self.net.setInput(blob)
        out = self.net.forward()
        return parse_ssd_output(out, [f.shape for f in frames], self.min_score)

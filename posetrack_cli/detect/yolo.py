"""Ultralytics YOLO person detector: boxes (class 0) from a YOLO (pose or detect) checkpoint (``nets.yolo``)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from posetrack_cli import zoo
from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS, DetectConfig
from posetrack_cli.errors import WeightsError, dependency_calls, one_line
from posetrack_cli.nets.yolo import load_yolo, predict, ultralytics_module
from posetrack_cli.records import Detections

log = logging.getLogger(__name__)


def local_yolo_weights(config: DetectConfig, offline: bool = False) -> DetectConfig:
    """``config`` with ``yolo_weights`` as a local file: a path as given; a bare name (``yolo11x.pt``) from the
    weights folder or the cache, else downloaded by Ultralytics into the cache, except offline."""
    name = config.yolo_weights
    if not name or Path(name).is_file() or Path(name).name != name:
        return config
    folder = zoo.cache_dir() / "ultralytics"
    for path in (zoo.weights_dir() / name, folder / name):
        if path.is_file():
            return replace(config, yolo_weights=str(path))
    if zoo.is_offline(offline):
        raise WeightsError(f"YOLO weights {name} are neither a file nor in {zoo.weights_dir()} or {folder}, and "
                           f"offline (--offline or {zoo.OFFLINE_ENV}=1) they are not downloaded; run once online "
                           f"or pass an existing file (bundled: {DEFAULT_YOLO_WEIGHTS})")
    folder.mkdir(parents=True, exist_ok=True)
    with dependency_calls("YOLO"):
        ultralytics_module()
        from ultralytics.utils.downloads import attempt_download_asset
    try:
        path = Path(attempt_download_asset(folder / name))
    except Exception as exc:  # Ultralytics raises ConnectionError, OSError, ...: one line either way
        raise WeightsError(f"cannot download YOLO weights {name} ({one_line(exc)}); offline? pass an existing file"
                           ) from None
    if not path.is_file():
        raise WeightsError(f"YOLO weights {name}: no such file, and Ultralytics has no asset of that name "
                           f"(e.g. yolo11x.pt, yolo11m-pose.pt)")
    return replace(config, yolo_weights=str(path))


class YoloDetector:
    """Person boxes (class 0) from an Ultralytics model; all frames of a batch in one call.

    ``bf16``: bf16 autocast on CPUs with native bf16 (AMX), faster with the same boxes on the bundled clip
    (benchmarks/RESULTS.md §2; tests/pose/test_speed_paths.py)."""

    name = "yolo"

    def __init__(self, weights: Path, device: str = "cpu", imgsz: int = 1280, min_score: float = 0.25, *,
                 bf16: bool = False) -> None:
        self.model = load_yolo(weights, device)
        self.device = device
        self.imgsz = imgsz
        self.min_score = min_score
        self.bf16 = bf16

    @dependency_calls("YOLO")
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

"""The detector ensemble: run every detector, fuse their person boxes by NMS (MDPN section 2.1: IoU 0.6)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from posetrack_cli.config import DEFAULT_SSDLITE_GRAPH, DEFAULT_YOLO_WEIGHTS, DetectConfig
from posetrack_cli.detect.base import Detector, keep_plausible
from posetrack_cli.detect.ssdlite import SsdLiteDetector
from posetrack_cli.detect.yolo import YoloDetector
from posetrack_cli.errors import PosetrackError
from posetrack_cli.geometry import nms
from posetrack_cli.records import Detections
from posetrack_cli.zoo import resolve_path


def fuse(per_detector: Sequence[Detections], iou_threshold: float) -> Detections:
    """Concatenate the boxes of several detectors (``sources`` = detector index) and keep the NMS survivors."""
    merged = Detections.merge([d.with_source(i) for i, d in enumerate(per_detector)])
    return merged.select(nms(merged.boxes_xyxy, merged.scores, iou_threshold))


class EnsembleDetector:
    """Runs each detector on the same frames and fuses their boxes per frame."""

    def __init__(self, detectors: Sequence[Detector], config: DetectConfig) -> None:
        if not detectors:
            raise PosetrackError("no detector selected; use --detectors yolo,ssdlite (or one of them)")
        self.detectors = list(detectors)
        self.config = config
        self.name = "+".join(d.name for d in detectors)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        per_detector = [d.detect(frames) for d in self.detectors]  # [detector][frame]
        fused = []
        for i, frame in enumerate(frames):
            dets = [keep_plausible(per_detector[k][i], self.config.min_score, self.config.min_box_height, frame.shape)
                    for k in range(len(self.detectors))]
            fused.append(fuse(dets, self.config.nms_iou))
        return fused


def _yolo(config: DetectConfig, device: str) -> Detector:
    return YoloDetector(resolve_path(config.yolo_weights, DEFAULT_YOLO_WEIGHTS), device, config.yolo_imgsz,
                        config.min_score, bf16=config.bf16)


def _ssdlite(config: DetectConfig, device: str) -> Detector:
    return SsdLiteDetector(resolve_path(config.ssdlite_graph, DEFAULT_SSDLITE_GRAPH), config.ssdlite_size,
                           config.min_score)


REGISTRY = {"yolo": _yolo, "ssdlite": _ssdlite}  # a new detector: one adapter module + one entry here


def build_detector(config: DetectConfig, device: str) -> EnsembleDetector:
    unknown = [n for n in config.detectors if n not in REGISTRY]
    if unknown:
        raise PosetrackError(f"unknown detector(s) {', '.join(unknown)}; choose from {', '.join(REGISTRY)}")
    return EnsembleDetector([REGISTRY[n](config, device) for n in config.detectors], config)

"""A scripted detector and pose estimator standing in for the networks where a test is about scheduling, files or
threads (the real networks run in the loopback and clip tests)."""

from __future__ import annotations

import numpy as np

from posetrack_cli.records import COCO17, Detections, Poses


class CountingDetector:
    """One fixed box per frame; records which frames it saw (by the value painted in them)."""

    name = "counting"

    def __init__(self) -> None:
        self.seen = []

    def detect(self, frames):
        self.seen += [int(f[0, 0, 0]) for f in frames]
        return [Detections(np.array([[20, 10, 60, 90]], np.float32), np.array([0.9], np.float32)) for _ in frames]


class BoxPoses:
    """Stands in for a pose network: 17 confident joints spread over each box."""

    name, skeleton = "box-poses", COCO17

    def estimate(self, frames, detections):
        out = []
        for d in detections:
            t = np.linspace(0, 1, 17)[None, :]
            b = d.boxes_xyxy[:, None, :]
            kp = np.stack([b[..., 0] + t * (b[..., 2] - b[..., 0]), b[..., 1] + t * (b[..., 3] - b[..., 1]),
                           np.full((len(d), 17), 0.9)], -1)
            out.append(Poses(d.boxes_xyxy, d.scores, kp, d.scores * 0.9))
        return out

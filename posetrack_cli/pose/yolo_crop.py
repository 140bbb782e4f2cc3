"""The bundled top-down estimator: YOLO11n-pose run on each affine person crop.

Used until MSPN/MDPN weights are present (issue 2). Every box of every frame is cropped with the MSPN crop geometry
(aspect 0.75, padding 1.25), all crops go through the model in one batch, and in each crop the pose whose box centre
is nearest the crop centre is kept and mapped back to frame pixels with the inverse warp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from posetrack_cli.config import PoseConfig
from posetrack_cli.errors import dependency_calls
from posetrack_cli.nets.yolo import load_yolo, predict
from posetrack_cli.pose.base import poses_per_frame
from posetrack_cli.pose.crops import crop_batch, invert_warps, transform_points
from posetrack_cli.records import COCO17, Detections, Poses


def nearest_to_center(boxes_xyxy: np.ndarray, center_xy: tuple[float, float]) -> int:
    """Index of the box whose centre is nearest ``center_xy`` (-1 when there is none)."""
    if len(boxes_xyxy) == 0:
        return -1
    centers = (boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2.0
    return int(np.argmin(((centers - np.asarray(center_xy)) ** 2).sum(1)))


class YoloCropEstimator:
    name = "yolo-crop"
    skeleton = COCO17

    def __init__(self, weights: Path, config: PoseConfig, device: str = "cpu", *, bf16: bool = False) -> None:
        """``bf16``: bf16 autocast on CPUs with native bf16 (see ``nets.yolo.predict``)."""
        self.model = load_yolo(weights, device)
        self.config = config
        self.device = device
        self.bf16 = bf16
        self.out_size = (int(round(config.crop_size * config.aspect_ratio)), config.crop_size)  # (w, h)

    @dependency_calls("yolo-crop")
    def _keypoints_in_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) crops -> (N, 17, 3) keypoints in crop pixels (zeros where the crop holds nobody)."""
        out = np.zeros((len(crops), 17, 3), np.float32)
        center = (self.out_size[0] / 2.0, self.out_size[1] / 2.0)
        for start in range(0, len(crops), self.config.batch_size):
            chunk = list(crops[start:start + self.config.batch_size])
            results = predict(self.model, chunk, self.device, self.bf16, imgsz=self.config.crop_size, conf=0.05,
                              classes=[0])
            for j, r in enumerate(results):
                best = nearest_to_center(r.boxes.xyxy.float().cpu().numpy(), center)
                if best >= 0:
                    out[start + j] = r.keypoints.data[best].float().cpu().numpy()
        return out

    def estimate(self, frames: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[Poses]:
        if sum(len(d) for d in detections) == 0:
            return [Poses.empty(COCO17) for _ in detections]
        crops, warps = crop_batch(frames, detections, self.config.aspect_ratio, self.config.padding, self.out_size)
        kp = self._keypoints_in_crops(crops)
        kp[:, :, :2] = transform_points(kp[:, :, :2], invert_warps(warps))
        return [poses for poses, _ in poses_per_frame(detections, kp, COCO17, self.config, COCO17.num_keypoints)]

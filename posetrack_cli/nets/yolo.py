"""Ultralytics YOLO adapter: load a checkpoint from a local file (never a hub) and predict on BGR images. Shared
by the YOLO detector and the ``yolo-crop`` pose estimator."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from posetrack_cli.errors import WeightsError, one_line
from posetrack_cli.nets.precision import autocast

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_yolo(path: Path, device: str):
    """Load a YOLO checkpoint from a local file only (never a hub), with a one-line error for a bad file.
    Cached: the detector and the crop pose estimator share one model when they use the same file."""
    if not path.is_file():
        raise WeightsError(f"YOLO weights {path} not found; pass an existing file (bundled: weights/yolo11n-pose.pt)")
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or downloads from Ultralytics code paths
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cv_threads = cv2.getNumThreads()
    from ultralytics import YOLO

    cv2.setNumThreads(cv_threads)  # importing Ultralytics switches OpenCV threading off (cv2.setNumThreads(0))

    try:
        model = YOLO(str(path))
    except Exception as exc:  # Ultralytics raises many types for a corrupt file; report it as a weights problem
        raise WeightsError(f"cannot load YOLO weights {path}: {one_line(exc)}") from None
    model.to(device)
    return model


def predict(model, images: Sequence[np.ndarray], device: str, bf16: bool = False, **kwargs) -> list:
    """``model.predict`` on a list of BGR images, in bf16 autocast on a CPU with native bf16 when ``bf16``.
    (Ultralytics itself runs CPU models channels_last, in inference mode, with BN fused.)"""
    threads = torch.get_num_threads()
    try:
        with autocast(device, cuda_fp16=False, cpu_bf16=bf16):
            return model.predict(list(images), device=device, verbose=False, **kwargs)
    finally:
        # Ultralytics' select_device sets torch to cpu_count - 1 threads (1 on a 2-core machine), which would
        # halve every later network forward of ours; keep the process's setting.
        torch.set_num_threads(threads)

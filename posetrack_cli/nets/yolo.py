"""Ultralytics YOLO adapter: load a checkpoint from a local file (never a hub) and predict on BGR images. Shared
by the YOLO detector and the ``yolo-crop`` pose estimator.

Written against Ultralytics 8.3-8.4 (``YOLO``, ``Results.boxes``, ``utils.downloads.attempt_download_asset``); calls
into it go through ``dependency_calls`` so that a release without one of them is named in one line."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from posetrack_cli.errors import WeightsError, dependency_calls, dependency_failure, one_line
from posetrack_cli.nets.precision import autocast

log = logging.getLogger(__name__)


def ultralytics_module():
    """The ``ultralytics`` module, imported without update checks or downloads from its own code paths."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cv_threads = cv2.getNumThreads()
    import ultralytics

    cv2.setNumThreads(cv_threads)  # importing Ultralytics switches OpenCV threading off (cv2.setNumThreads(0))
    return ultralytics


@functools.lru_cache(maxsize=4)
@dependency_calls("YOLO")
def load_yolo(path: Path, device: str):
    """Load a YOLO checkpoint from a local file only (never a hub), with a one-line error for a bad file.
    Cached: the detector and the crop pose estimator share one model when they use the same file."""
    if not path.is_file():
        raise WeightsError(f"YOLO weights {path} not found; pass an existing file (bundled: weights/yolo11n-pose.pt)")
    ultralytics = ultralytics_module()
    try:
        model = ultralytics.YOLO(str(path))
    except Exception as exc:  # Ultralytics raises many types for a corrupt file; report it as a weights problem
        if isinstance(exc, (ImportError, AttributeError)) and dependency_failure(exc) is not None:
            raise  # unless Ultralytics itself lacks something: named as such by dependency_calls
        raise WeightsError(f"cannot load YOLO weights {path}: {one_line(exc)}") from None
    model.to(device)
    # Ultralytics sets up its predictor at the model's first predict call, and with it sets PyTorch to min(8, cores
    # - 1) threads; ``predict`` restores the process's count after each call, but the first call itself would run at
    # Ultralytics' count: its numbers would differ in the last digits from the same call made later, and a Ray worker
    # reserving one CPU would run it on up to 8 threads. Set the predictor up now, on a blank image.
    predict(model, [np.zeros((32, 32, 3), np.uint8)], device, imgsz=32)
    return model


@dependency_calls("YOLO")
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

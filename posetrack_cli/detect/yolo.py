"""Ultralytics YOLO adapter: person boxes from a YOLO (pose or detect) checkpoint, loaded from a local file; a bare
Ultralytics asset name (``yolo11x.pt``) that is not present is downloaded by Ultralytics into the cache (online only).

Written against Ultralytics 8.3-8.4 (``YOLO``, ``Results.boxes``, ``utils.downloads.attempt_download_asset``); calls
into it go through ``dependency_calls`` so that a release without one of them is named in one line."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from posetrack_cli import zoo
from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS, DetectConfig
from posetrack_cli.errors import WeightsError, dependency_calls, dependency_failure
from posetrack_cli.nets.precision import autocast
from posetrack_cli.records import Detections

log = logging.getLogger(__name__)


def _ultralytics():
    """The ``ultralytics`` module, imported without update checks or downloads from its own code paths."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cv_threads = cv2.getNumThreads()
    import ultralytics

    cv2.setNumThreads(cv_threads)  # importing Ultralytics switches OpenCV threading off (cv2.setNumThreads(0))
    return ultralytics


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
        _ultralytics()
        from ultralytics.utils.downloads import attempt_download_asset
    try:
        path = Path(attempt_download_asset(folder / name))
    except Exception as exc:  # Ultralytics raises ConnectionError, OSError, ...: one line either way
        raise WeightsError(f"cannot download YOLO weights {name} ({type(exc).__name__}: {exc}".split("\n")[0]
                           + "); offline? pass an existing file") from None
    if not path.is_file():
        raise WeightsError(f"YOLO weights {name}: no such file, and Ultralytics has no asset of that name "
                           f"(e.g. yolo11x.pt, yolo11m-pose.pt)")
    return replace(config, yolo_weights=str(path))


@functools.lru_cache(maxsize=4)
@dependency_calls("YOLO")
def load_yolo(path: Path, device: str):
    """Load a YOLO checkpoint from a local file only (never a hub), with a one-line error for a bad file.
    Cached: the detector and the crop pose estimator share one model when they use the same file."""
    if not path.is_file():
        raise WeightsError(f"YOLO weights {path} not found; pass an existing file (bundled: weights/yolo11n-pose.pt)")
    ultralytics = _ultralytics()
    try:
        model = ultralytics.YOLO(str(path))
    except Exception as exc:  # Ultralytics raises many types for a corrupt file; report it as a weights problem
        if isinstance(exc, (ImportError, AttributeError)) and dependency_failure(exc) is not None:
            raise  # unless Ultralytics itself lacks something: named as such by dependency_calls
        raise WeightsError(f"cannot load YOLO weights {path}: {type(exc).__name__}: {exc}".split("\n")[0]) from None
    model.to(device)
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

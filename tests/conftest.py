"""Shared fixtures. Every test runs on the CPU with the network blocked (pytest-socket, see pyproject addopts)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CLIP = ROOT / "examples" / "vtest.avi"

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("POSETRACK_OFFLINE", "1")  # --pose auto never tries to download; download tests unset it
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def one_torch_thread():
    """Small tensors: one thread is as fast as two and avoids OpenMP oversubscription (5x slower) when other
    processes share the CPU. Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _ultralytics_config(tmp_path_factory):
    os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("yolo_config"))


@pytest.fixture(autouse=True, scope="session")
def _posetrack_cache(tmp_path_factory):
    """The cache (downloaded weights, exported ONNX graphs) in a fresh folder: tests neither read nor fill ~/.cache."""
    os.environ["POSETRACK_CACHE"] = str(tmp_path_factory.mktemp("posetrack_cache"))


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write frames (BGR uint8, all one size) to an .avi (MJPG) or .mp4 (mp4v) file with OpenCV."""
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    assert writer.isOpened(), f"cannot write {path}"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture
def empty_scene_video(tmp_path) -> Path:
    """12 frames of a plain grey scene with nobody in it, 160x120."""
    rng = np.random.default_rng(0)
    frames = [np.full((120, 160, 3), 128, np.uint8) + rng.integers(0, 3, (120, 160, 3), dtype=np.uint8)
              for _ in range(12)]
    return write_video(tmp_path / "empty.avi", frames)


@pytest.fixture(scope="session")
def clip_frames() -> list[np.ndarray]:
    """The first 8 frames of the bundled clip."""
    cap = cv2.VideoCapture(str(EXAMPLE_CLIP))
    frames = [cap.read()[1] for _ in range(8)]
    cap.release()
    return frames

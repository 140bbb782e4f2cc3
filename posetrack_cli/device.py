"""Device selection: ``auto`` picks CUDA when present, else the CPU."""

from __future__ import annotations

import os

import torch

from posetrack_cli.config import FLOW_THREAD_SETTINGS
from posetrack_cli.errors import PosetrackError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a usable ``torch.device`` (clear error when CUDA is absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PosetrackError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PosetrackError(f"device {name} requested but no CUDA GPU is available: use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise PosetrackError(f"device {name} requested but only {torch.cuda.device_count()} GPU(s) exist")
    elif device.type != "cpu":
        raise PosetrackError(f"unsupported device {name!r}: use auto, cpu, cuda or cuda:N")
    return device


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def flow_thread_on(setting: str, device: str) -> bool:
    """``--flow-thread``: ``on``/``off`` as said; ``auto`` is on where the flow's worker thread has a core to itself:
    the networks run on a GPU (``device`` resolved), or PyTorch's threads leave a CPU core free. Measured on the
    2-core CPU of RESULTS.md §10 (realtime preset, whole clip): with PyTorch on both cores the thread gained nothing
    (and lost 4-5 % in an earlier run); with one PyTorch thread and a core free it made the run 3-5 % faster."""
    if setting not in FLOW_THREAD_SETTINGS:
        raise PosetrackError(f"unknown --flow-thread {setting!r}: use {', '.join(FLOW_THREAD_SETTINGS)}")
    if setting != "auto":
        return setting == "on"
    return str(device).startswith("cuda") or cpu_cores() > torch.get_num_threads()

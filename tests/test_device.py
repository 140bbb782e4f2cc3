"""Device selection and the ``--flow-thread`` rule: ``on``/``off`` as said, ``auto`` on only where the flow's worker
thread has a core to itself (the networks on a GPU, or a CPU core that PyTorch's threads leave free)."""

from __future__ import annotations

import os

import pytest
import torch

from posetrack_cli import device
from posetrack_cli.device import flow_thread_on, resolve_device
from posetrack_cli.errors import PosetrackError


@pytest.mark.parametrize("cores,threads,expected", [(2, 2, False), (2, 1, True), (8, 4, True), (4, 4, False),
                                                    (1, 1, False)])
def test_auto_flow_thread_needs_a_spare_cpu_core(monkeypatch, cores, threads, expected):
    monkeypatch.setattr(device, "cpu_cores", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert flow_thread_on("auto", "cpu") is expected
    assert flow_thread_on("auto", "cuda:0") is True  # the networks on a GPU leave the CPU to the flow
    assert flow_thread_on("on", "cpu") is True and flow_thread_on("off", "cuda") is False


def test_unknown_flow_thread_setting_is_a_clear_error():
    with pytest.raises(PosetrackError, match="unknown --flow-thread 'yes': use auto, on, off"):
        flow_thread_on("yes", "cpu")


def test_cpu_cores_counts_the_cores_this_process_may_use():
    assert 1 <= device.cpu_cores() <= (os.cpu_count() or 1)


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(PosetrackError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(PosetrackError, match="no CUDA GPU is available: use --device cpu or auto"):
            resolve_device("cuda")

"""The machine a benchmark ran on: CPU model, cores, GPU, library versions (printed at the top of every table)."""

from __future__ import annotations

import os
import platform
import time

from posetrack_cli.io.cpuinfo import read_cpuinfo


def cpu_model() -> str:
    return read_cpuinfo()[0]


def load() -> str:
    """The 1, 5 and 15 minute load averages: other processes share the CPU when they are above 0."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def describe() -> str:
    import cv2
    import numpy
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"machine: {cpu_model()}, {os.cpu_count()} cores, GPU {gpu}, torch threads {torch.get_num_threads()}\n"
            f"versions: python {platform.python_version()}, torch {torch.__version__}, opencv {cv2.__version__}, "
            f"numpy {numpy.__version__}\n{load()} at {time.strftime('%Y-%m-%d %H:%M:%S')}")

"""The machine a benchmark ran on: CPU model, cores, GPU, library versions (printed at the top of every table)."""

from __future__ import annotations

import os
import platform
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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

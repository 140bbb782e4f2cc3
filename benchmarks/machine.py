"""The machine a benchmark ran on: CPU model, cores, GPU, library versions (printed at the top of every table)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    import cv2
    import numpy
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"machine: {cpu_model()}, {os.cpu_count()} cores, GPU {gpu}, torch threads {torch.get_num_threads()}\n"
            f"versions: python {platform.python_version()}, torch {torch.__version__}, opencv {cv2.__version__}, "
            f"numpy {numpy.__version__}")

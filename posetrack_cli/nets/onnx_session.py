"""ONNX Runtime CPU sessions with the process's thread budget: the SSDLite detector and the onnx/int8 pose runtimes."""

from __future__ import annotations

from pathlib import Path

import torch


def cpu_session(path: str | Path, threads: int | None = None, disabled_optimizers: tuple[str, ...] = ()):
    """An ``onnxruntime.InferenceSession`` on the CPU provider with every graph optimisation (convolution + bias +
    activation fusion, NCHWc layouts), ``threads`` intra-op threads or as many as PyTorch uses (the same CPU budget
    as the rest of the pipeline), less the graph passes named in ``disabled_optimizers``. Raises ``ImportError``
    without onnxruntime; callers say what to install."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers))

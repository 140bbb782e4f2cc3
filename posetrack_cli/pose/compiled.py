"""Heatmap networks through ``torch.compile`` (runtime "compile", ``--pose-runtime compile``; CPU and CUDA).

Inductor with *freezing*: the weights become constants of the graph, so on the CPU they are prepacked for oneDNN
once and convolution + add + ReLU are fused. benchmarks/bench_cpu_efficiency.py (variant ``compile``, which runs
this wrapper) measures it against eager PyTorch and the machine's matrix-multiply throughput.

Freezing is switched on with a scoped ``torch._inductor.config.patch(freezing=True)`` around every call, not
process-wide: compilation is lazy (it happens inside the first call at a new shape), and checked on this torch
(2.14): the patch around the call gives prepacked ``mkldnn._convolution_pointwise`` kernels, while the same switch
passed as ``torch.compile(..., options={"freezing": True})`` gives none (plain ``aten.convolution`` on parameters).
Freezing needs autograd off, so calls run under ``torch.inference_mode()``.

Static shapes in buckets. Every new input shape is a new compilation (Dynamo's recompile limit, 8, then falls back
to eager silently), and crop counts vary from frame to frame, so a batch is padded (zeros) to the next *bucket* --
the powers of two below the largest forward and that forward itself (1, 2, 4, 8, 16, 32 for ``--pose-batch 32``) --
and the padding is sliced off the output; at most ~6 compilations per estimator, each logged at INFO with its time.
Batches are independent (eval mode, BatchNorm folded), so padding changes no result (tests/pose/test_compiled.py).
Static buckets rather than one graph with a symbolic batch (``dynamic=True``): at a full batch, the case that decides
throughput, the static graph was faster and compiled 2.5-4x sooner; padding costs at most half a forward on a
partial last batch (benchmarks/RESULTS.md §1, "Static buckets against a symbolic batch").

Each estimator compiles its own graphs (the weights are constants of them): Dynamo keeps compiled graphs, and
counts them against its recompile limit, per *code object*, so the wrapper calls a private copy of ``_forward``
-- otherwise a second estimator in a process (the pipeline loads one per run or folder, but tests and library
users may build several) would share the first one's limit and fall back to eager after a few buckets. Dynamo
also keeps a code object's graphs, and the frozen weights in them, alive after the wrapper is gone; the wrapper
drops them (``reset_code``) when it is garbage-collected.
"""

from __future__ import annotations

import logging
import time
import types
import weakref

import torch
import torch._dynamo.config as dynamo_config
import torch._inductor.config as inductor_config
from torch import nn
from torch._dynamo.eval_frame import reset_code

log = logging.getLogger(__name__)


def batch_buckets(max_batch: int) -> tuple[int, ...]:
    """The padded batch sizes: powers of two below ``max_batch``, then ``max_batch`` (e.g. 24 -> 1, 2, 4, 8, 16,
    24)."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    sizes = [1 << k for k in range(max_batch.bit_length()) if 1 << k < max_batch]
    return (*sizes, max_batch)


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net.predict(x)


def _private_copy(fn: types.FunctionType) -> types.FunctionType:
    """``fn`` with a code object of its own, hence its own Dynamo cache and recompile count."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def pad_batch(x: torch.Tensor, size: int,
              memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """``x`` (B, ...) followed by ``size - B`` zero images, in ``memory_format`` (``x`` itself if it already is)."""
    if len(x) == size and x.is_contiguous(memory_format=memory_format):
        return x
    out = torch.empty((size, *x.shape[1:]), dtype=x.dtype, device=x.device, memory_format=memory_format)
    out[:len(x)] = x
    out[len(x):] = 0
    return out


class CompiledPredict:
    """``net.predict`` compiled by Inductor with frozen weights, on batches padded to ``batch_buckets(max_batch)``:
    (B, 3, h, w) -> heatmaps (B, C, h/4, w/4) for any B (above ``max_batch`` in chunks of it)."""

    def __init__(self, net: nn.Module, max_batch: int, *,
                 memory_format: torch.memory_format = torch.channels_last) -> None:
        """``net`` in eval mode on its device (its weights must not change afterwards: they are frozen into the
        graphs). ``memory_format``: the layout of the graphs' input (inputs in another are converted)."""
        self.net = net
        self.memory_format = memory_format
        self.buckets = batch_buckets(max_batch)
        self._function = _private_copy(_forward)  # Dynamo's cache of this wrapper's graphs lives on its code
        self._compiled = torch.compile(self._function, dynamic=False)
        # Dynamo keeps the graphs of a code object (and the weights frozen into them) until told otherwise
        weakref.finalize(self, reset_code, self._function.__code__).atexit = False
        self._seen: set[tuple] = set()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        largest = self.buckets[-1]
        if len(x) > largest:
            return torch.cat([self(part) for part in x.split(largest)])
        n = len(x)
        size = next(b for b in self.buckets if b >= n)
        key = (size, x.dtype, torch.is_autocast_enabled(x.device.type))  # what a new graph is compiled for
        start = time.perf_counter()
        with torch.inference_mode(), inductor_config.patch(freezing=True), \
                dynamo_config.patch(recompile_limit=max(8, 2 * len(self.buckets))):
            y = self._compiled(self.net, self._input(x, size))
        if key not in self._seen:
            self._seen.add(key)
            log.info("torch.compile: pose network batch %d in %.1f s", size, time.perf_counter() - start)
        return y[:n]

    def _input(self, x: torch.Tensor, size: int) -> torch.Tensor:
        """``x`` padded to ``size``, in the graphs' memory format, as an inference tensor: Dynamo guards on shape,
        strides and dispatch keys, so a tensor made outside inference mode would compile a new graph."""
        x = pad_batch(x, size, self.memory_format)
        return x if x.is_inference() else x.clone()

"""Seconds spent inside network forwards, for ``posetrack run --profile``: "network forward X % / overhead Y %".

``ForwardClock.attached(*models)`` times, for as long as the ``with`` block lasts:

- every PyTorch ``nn.Module`` call (global forward hooks; the outermost call counts): the YOLO networks of the
  detector and the yolo-crop estimator (Ultralytics' letterboxing and NMS are outside them; it runs a private copy of
  the model, hence global hooks rather than hooks on the model it was given), MSPN/MDPN; nothing else in the
  pipeline is an ``nn.Module``;
- a ``_predict`` callable of one of ``models`` or their ``.detectors`` (the SSDLite detector's ONNX Runtime
  session, ``TopDownEstimator`` on the ONNX Runtime runtimes): its calls.

On CUDA the clock synchronises the device at the start and end of every forward, so that the seconds are the
forward's and not the time to queue it (this costs a little overlap between the CPU and the GPU). Nested forwards
count once. Everything is restored on leaving the ``with`` block.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Callable, Iterator

import torch


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class ForwardClock:
    """Sums the wall seconds spent inside network forwards."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._start = 0.0

    def enter(self) -> None:
        if self._depth == 0:
            _sync()
            self._start = time.perf_counter()
        self._depth += 1

    def leave(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            _sync()
            self.seconds += time.perf_counter() - self._start

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return timed

    @contextlib.contextmanager
    def attached(self, *models) -> Iterator[ForwardClock]:
        """Time the forwards of ``models`` (detectors, estimators; None is skipped) inside the block."""
        from torch.nn.modules import module as torch_module

        undo: list[Callable[[], None]] = []
        try:
            pre = torch_module.register_module_forward_pre_hook(lambda *_: self.enter())
            undo.append(pre.remove)
            post = torch_module.register_module_forward_hook(lambda *_: self.leave(), always_call=True)
            undo.append(post.remove)
            for model in models:
                self._attach(model, undo)
            yield self
        finally:
            for step in reversed(undo):
                step()

    def _attach(self, model, undo: list) -> None:
        if model is None:
            return
        for child in getattr(model, "detectors", ()):
            self._attach(child, undo)
        if callable(getattr(model, "__dict__", {}).get("_predict")):  # set per instance
            predict = model._predict
            model._predict = self.wrap(predict)
            undo.append(lambda: setattr(model, "_predict", predict))

"""What runs inside the Ray worker processes: one ``Worker`` actor per worker slot (models loaded once, then one
item after another) and a ``ProgressLog`` actor that collects the frame counts the workers report.

These classes are plain Python; the driver wraps them with ``ray.remote`` (so importing this module needs no Ray).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import PosetrackError
from posetrack_cli.pipeline import VideoResult, build_stages
from posetrack_cli.runs.chunks import Chunk, run_chunk
from posetrack_cli.runs.memory import limit_heap_growth
from posetrack_cli.runs.policy import STOPS_THE_RUN, guarded
from posetrack_cli.runs.progress import Counted
from posetrack_cli.runs.video import run_guarded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One unit of work: a whole video, or one chunk of a long one. Paths are absolute (workers may run in
    another folder or on another machine)."""

    key: int  # position in the driver's work list
    video: int  # index of the video in the batch
    path: str
    out_json: str
    render: str | None  # overlay of a whole video (chunked videos are drawn by the driver after the join)
    chunk: Chunk | None = None
    attempt: int = 0  # 0 for the first run; +1 each time a worker died running it


@dataclass
class Outcome:
    row: VideoResult  # the video's row (whole video) or the chunk's (its ``output`` is the chunk stream)
    fatal: bool = False  # an OutputError (full disk, read-only folder): the batch stops, as in the local loop


class ProgressLog:
    """Frame counts reported by the workers, taken by the driver to feed its single progress bar."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, int]] = []  # (item key, frames, worker pid)

    def add(self, key: int, frames: int, pid: int) -> None:
        self.events.append((key, frames, pid))

    def take(self) -> list[tuple[int, int, int]]:
        events, self.events = self.events, []
        return events


class _Reporter:
    """The ``runs.progress.Progress`` of one item, reporting its frames to the Progress actor."""

    def __init__(self, progress, key: int) -> None:
        self.progress, self.key = progress, key

    def started(self, label: str, total: int | None) -> None:
        pass

    def advanced(self, frames: int) -> None:
        if frames:
            self.progress.add.remote(self.key, frames, os.getpid())

    def finished(self) -> None:
        pass

    def close(self) -> None:
        pass


def worker_threads(cpus_per_task: float) -> int:
    """PyTorch (and so ONNX Runtime) threads of a worker: the whole CPUs it reserves, at least one. That is Ray's own
    rule for ``OMP_NUM_THREADS``, set here explicitly because Ray keeps a value already in the driver's environment
    (Ultralytics sets ``OMP_NUM_THREADS=1`` when imported: a driver that ran YOLO gave every worker one thread)."""
    return max(1, int(cpus_per_task))


class Worker:
    """One worker slot: builds the stages once (``build_stages``), then runs the items it is given."""

    def __init__(self, config: PipelineConfig, progress, boxes=None, threads: int = 1) -> None:
        torch.set_num_threads(threads)  # worker_threads: a local run uses PyTorch's default, the machine's cores
        limit_heap_growth()
        self.progress = progress
        self.stages, self.error = None, None
        try:
            self.stages = build_stages(config, boxes)  # boxes: supplied person boxes, no detector is loaded
        except PosetrackError as exc:  # bad weights: reported by ready(), raised by the driver as locally
            self.error = (type(exc).__name__, str(exc))

    def ready(self) -> tuple[int, tuple[str, str] | None]:
        """(pid, None) once the models are loaded; (pid, (error class, message)) when they could not be."""
        return os.getpid(), self.error

    def run(self, item: Item) -> Outcome:
        counted = Counted(_Reporter(self.progress, item.key))
        out_json = Path(item.out_json)
        try:
            if item.chunk is None:
                render = Path(item.render) if item.render else None
                return Outcome(run_guarded(Path(item.path), out_json, self.stages, render, counted))
            return Outcome(guarded(item.path, item.out_json,
                                   lambda: run_chunk(item.path, out_json, self.stages, item.chunk, counted.on_frames)))
        except STOPS_THE_RUN as exc:  # a full disk or a broken package: the batch stops, as in the local loop
            return Outcome(VideoResult(item.path, item.out_json, "failed", frames=counted.done, error=str(exc)),
                           fatal=True)

"""What runs inside the Ray worker processes: one ``Worker`` actor per worker slot (models loaded once, then one
item after another) and a ``Progress`` actor that collects the frame counts the workers report.

These classes are plain Python; the driver wraps them with ``ray.remote`` (so importing this module needs no Ray).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from posetrack_cli.config import PipelineConfig
from posetrack_cli.distributed.chunks import Chunk, run_chunk
from posetrack_cli.errors import OutputError, PosetrackError
from posetrack_cli.pipeline import VideoResult

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


class Progress:
    """Frame counts reported by the workers, taken by the driver to feed its single progress bar."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, int]] = []  # (item key, frames, worker pid)

    def add(self, key: int, frames: int, pid: int) -> None:
        self.events.append((key, frames, pid))

    def take(self) -> list[tuple[int, int, int]]:
        events, self.events = self.events, []
        return events


class _Reporter:
    """The ``_Bars`` interface of ``batch._run_one`` (start, frames, done), reporting to the Progress actor."""

    def __init__(self, progress, key: int) -> None:
        self.progress, self.key, self.done = progress, key, 0

    def start(self, info, max_frames=None) -> None:
        self.done = 0

    def frames(self, n: int) -> None:
        self.done += n
        if n:
            self.progress.add.remote(self.key, n, os.getpid())


class Worker:
    """One worker slot: builds the stages once (``build_stages``), then runs the items it is given."""

    def __init__(self, config: PipelineConfig, progress, boxes=None) -> None:
        from posetrack_cli.batch import limit_heap_growth
        from posetrack_cli.pipeline import build_stages

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
        from posetrack_cli.batch import _run_one

        reporter = _Reporter(self.progress, item.key)
        out_json = Path(item.out_json)
        try:
            if item.chunk is None:
                render = Path(item.render) if item.render else None
                row = _run_one(Path(item.path), out_json, self.stages, render, reporter)
                return Outcome(row)
            return Outcome(_guarded_chunk(item, out_json, self.stages, reporter))
        except OutputError as exc:
            return Outcome(VideoResult(item.path, item.out_json, "failed", frames=reporter.done, error=str(exc)),
                           fatal=True)


def _guarded_chunk(item: Item, out_json: Path, stages, reporter: _Reporter) -> VideoResult:
    """``run_chunk`` with the failure isolation of ``batch._run_one`` (a bad video is a failed row)."""
    try:
        return run_chunk(item.path, out_json, stages, item.chunk, reporter.frames)
    except OutputError:
        raise
    except PosetrackError as exc:
        return VideoResult(item.path, item.out_json, "failed", error=str(exc))
    except (MemoryError, RuntimeError, ValueError, OSError) as exc:
        log.debug("chunk %s of %s failed", item.chunk.index, item.path, exc_info=True)
        return VideoResult(item.path, item.out_json, "failed", error=f"{type(exc).__name__}: {exc}".split("\n")[0])

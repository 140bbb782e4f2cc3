"""The one failure policy of every run (a single video, a folder, a Ray worker, a chunk of a long video):

- a video that fails (bad input, a decoder or model error) becomes a "failed" row and the others go on;
- an ``OutputError`` (full disk, read-only folder) or a ``DependencyError`` (a broken package) fails every later
  video too, so it stops the run;
- Ctrl-C / SIGTERM / an ``OutputError`` while a video runs mark it "interrupted" / "failed" with the frames done.
"""

from __future__ import annotations

import logging
from typing import Callable

from posetrack_cli.errors import DependencyError, OutputError, PosetrackError, one_line
from posetrack_cli.pipeline import VideoResult

log = logging.getLogger(__name__)

STATUSES = ("done", "skipped", "failed", "interrupted", "pending")
# Errors that end one video and not the run: ours (bad input, bad weights) and those a decoder or a network raises.
STOPS_THE_RUN = (OutputError, DependencyError)
VIDEO_ERRORS = (PosetrackError, MemoryError, RuntimeError, ValueError, OSError)


def guarded(video: str, out_json: str, work: Callable[[], VideoResult]) -> VideoResult:
    """``work()``, or the video's "failed" row when it raises a per-video error; ``OutputError`` propagates."""
    try:
        return work()
    except STOPS_THE_RUN:
        raise
    except VIDEO_ERRORS as exc:
        log.debug("%s failed", video, exc_info=True)
        return VideoResult(str(video), str(out_json), "failed", error=one_line(exc))


def stopped_row(video: str, out_json: str, exc: BaseException, frames: int) -> VideoResult:
    """The row of the video that was running when ``exc`` stopped the run."""
    if isinstance(exc, STOPS_THE_RUN):
        return VideoResult(str(video), str(out_json), "failed", frames=frames, error=str(exc))
    return VideoResult(str(video), str(out_json), "interrupted", frames=frames,
                       error=f"stopped by {type(exc).__name__} after {frames} frames (kept in the .jsonl)")

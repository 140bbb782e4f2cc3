"""A folder of videos and image sequences: one item each, models loaded once, per-video failure isolation
(``policy``), resume (``outputs``) and ``summary.json``; run here or handed to an executor (Ray)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable

from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import InputError, PosetrackError
from posetrack_cli.io.download import Progress as DownloadProgress
from posetrack_cli.io.images import IMAGE_SUFFIXES
from posetrack_cli.io.sources import scan_folder
from posetrack_cli.io.video import VIDEO_SUFFIXES
from posetrack_cli.pipeline import BoxSource, Stages, VideoResult, build_stages
from posetrack_cli.runs.outputs import (
    check_writable,
    output_paths,
    remove_leftovers,
    render_path,
    skip_or_clean,
    write_summary,
)
from posetrack_cli.runs.policy import stopped_row
from posetrack_cli.runs.progress import Counted, Progress, Silent
from posetrack_cli.runs.video import run_guarded

log = logging.getLogger(__name__)

Executor = Callable[..., list[VideoResult]]  # (videos, outputs, rows, out_dir, config, render_dir, resume, progress,
# boxes, download) -> rows in the folder's order; runs.ray_executor.RayExecutor is one


def _find_inputs(folder: Path) -> tuple[list[Path], list[VideoResult]]:
    """The videos and image-sequence folders under ``folder`` (sorted; notes on ignored files logged) and a failed
    row for every sub-folder that could not be listed."""
    scan = scan_folder(folder)
    if folder in scan.unreadable:
        raise InputError(f"{folder}: permission denied; cannot list the folder")
    if not scan.videos and not scan.sequences and not scan.unreadable:
        raise InputError(f"{folder}: no videos found (looked recursively for {', '.join(VIDEO_SUFFIXES)}) and no "
                         f"folders of images ({', '.join(IMAGE_SUFFIXES)})")
    for note in scan.notes:
        log.warning("%s", note)
    rows = [VideoResult(str(d), "", "failed", error=f"{d}: permission denied; folder not searched")
            for d in scan.unreadable]
    return sorted(scan.videos + scan.sequences), rows


def run_batch(folder: Path, out_dir: Path, config: PipelineConfig, render_dir: Path | None = None,
              resume: bool = False, progress: Progress | None = None, executor: Executor | None = None,
              limit: int | None = None, boxes: BoxSource | None = None,
              download: DownloadProgress | None = None) -> list[VideoResult]:
    """Every video and image-sequence folder (frames at ``config.sequence_fps``) under ``folder`` is one item.
    ``limit``: only the first N (sorted); ``boxes``: supplied person boxes instead of the detectors; ``executor``:
    who runs the items (default: this process, one after another); ``download`` sees the bytes of weights
    downloaded on first use (a Ray worker downloads on its own)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; a folder of videos needs an output folder")
    videos, results = _find_inputs(folder)
    videos = videos[:limit] if limit else videos
    for target in {out_dir, *([render_dir] if render_dir else [])}:
        check_writable(target)
    remove_leftovers([out_dir / "summary.json"], None)
    outputs = output_paths(videos, folder, out_dir)
    run = executor or run_here
    return run(videos, outputs, results, out_dir, config, render_dir, resume, progress or Silent(), boxes, download)


def run_here(videos: list[Path], outputs: list[Path], rows: list[VideoResult], out_dir: Path,
             config: PipelineConfig, render_dir: Path | None, resume: bool, progress: Progress,
             boxes: BoxSource | None = None, download: DownloadProgress | None = None) -> list[VideoResult]:
    """The local executor: models loaded once, the items one after another; ``rows`` (folders that could not be
    searched) come first."""
    results, counted, current = list(rows), Counted(progress), None
    progress.planned(len(videos))
    try:
        stages = build_stages(config, boxes, download) if videos else None  # models load once for the whole folder
        for video, out_json in zip(videos, outputs):
            current, counted.done = (video, out_json), 0
            render = render_path(out_json, out_dir, render_dir)
            results.append(_resume_or_run(video, out_json, stages, render, counted, resume))
            progress.finished()
        current = None
    except BaseException as exc:  # Ctrl-C, SIGTERM, disk full: record where it stopped, keep the original error
        if current is not None:
            results.append(stopped_row(str(current[0]), str(current[1]), exc, counted.done))
        progress.close()
        with contextlib.suppress(PosetrackError):  # the disk may be full: the original error is the one to show
            write_summary(out_dir / "summary.json", results, videos)
        raise
    progress.close()
    write_summary(out_dir / "summary.json", results, videos)
    return results


def _resume_or_run(video: Path, out_json: Path, stages: Stages, render: Path | None, counted: Counted,
                   resume: bool) -> VideoResult:
    skipped = skip_or_clean(video, out_json, stages.config, render, resume, stages.models()["detectors"])
    return skipped if skipped is not None else run_guarded(video, out_json, stages, render, counted)



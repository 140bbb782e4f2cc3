"""One video or image-sequence folder: check the input and the output folders before any model is loaded, then
track it with progress reported; ``run_guarded`` applies the failure policy for the folder and Ray runs."""

from __future__ import annotations

from pathlib import Path

from posetrack_cli.config import PipelineConfig
from posetrack_cli.io.download import Progress as DownloadProgress
from posetrack_cli.io.sources import probe
from posetrack_cli.pipeline import BoxSource, Stages, VideoResult, build_stages, run_video
from posetrack_cli.runs.outputs import check_writable, single_output_path
from posetrack_cli.runs.policy import guarded
from posetrack_cli.runs.progress import Counted, Progress, Silent


def run_single(video: Path, out: Path, config: PipelineConfig, render: Path | None = None,
               progress: Progress | None = None, boxes: BoxSource | None = None,
               download: DownloadProgress | None = None) -> VideoResult:
    """One video or image-sequence folder (frames at ``config.sequence_fps``); errors propagate (one input).
    ``download`` sees the bytes of weights downloaded on first use."""
    probe(video, config.sequence_fps)  # a bad input fails in a second, before any model is loaded
    out_json = single_output_path(video, out)
    for folder in {out_json.parent, *([render.parent] if render else [])}:
        check_writable(folder)
    stages = build_stages(config, boxes, download)
    progress = progress or Silent()
    counted = Counted(progress)
    try:
        return run_video(video, out_json, stages, render, counted.on_start, counted.on_frames)
    finally:
        progress.close()


def run_guarded(video: Path, out_json: Path, stages: Stages, render: Path | None, counted: Counted) -> VideoResult:
    """``run_video`` under the failure policy: a bad video becomes a "failed" row."""
    return guarded(str(video), str(out_json),
                   lambda: run_video(video, out_json, stages, render, counted.on_start, counted.on_frames))

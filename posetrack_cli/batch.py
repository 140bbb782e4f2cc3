"""Running one video or a folder of videos with progress bars, per-video failure isolation, resume and a
``summary.json``. Used by the CLI (this is where progress bars are switched on)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import InputError, PosetrackError
from posetrack_cli.export.atomic import atomic_write
from posetrack_cli.export.native import SCHEMA
from posetrack_cli.pipeline import Stages, VideoResult, build_stages, run_video
from posetrack_cli.video import VIDEO_SUFFIXES, find_videos, probe

log = logging.getLogger(__name__)


class _Bars:
    """A per-video frame bar (fps and ETA) inside an optional overall bar."""

    def __init__(self, quiet: bool, videos: int | None = None) -> None:
        self.quiet = quiet
        self.overall = None if quiet or videos is None else tqdm(total=videos, unit="video", desc="videos",
                                                                 position=0, dynamic_ncols=True)
        self.bar = None

    def start(self, info, max_frames: int | None = None) -> None:
        if not self.quiet:
            total = min(info.frame_count, max_frames or info.frame_count) or max_frames
            self.bar = tqdm(total=total or None, unit="frame", desc=Path(info.path).name[:30],
                            position=1 if self.overall else 0, leave=self.overall is None, dynamic_ncols=True)

    def frames(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def video_done(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.overall is not None:
            self.overall.update(1)

    def close(self) -> None:
        self.video_done()
        if self.overall is not None:
            self.overall.close()


def single_output_path(video: Path, out: Path) -> Path:
    return out / f"{video.stem}.json" if out.is_dir() else out


def run_single(video: Path, out: Path, config: PipelineConfig, render: Path | None, quiet: bool) -> VideoResult:
    probe(video)  # a bad input fails in a second, before any model is loaded
    stages = build_stages(config)
    bars = _Bars(quiet)
    try:
        return run_video(video, single_output_path(video, out), stages, render, bars.start, bars.frames)
    finally:
        bars.close()


def output_paths(videos: list[Path], root: Path, out_dir: Path) -> list[Path]:
    """One JSON per video, mirroring the folder tree; videos sharing a stem in one folder keep their suffix."""
    stems: dict[Path, int] = {}
    for v in videos:
        key = v.relative_to(root).with_suffix("")
        stems[key] = stems.get(key, 0) + 1
    paths = []
    for v in videos:
        rel = v.relative_to(root)
        name = rel.name if stems[rel.with_suffix("")] > 1 else rel.stem
        paths.append(out_dir / rel.parent / f"{name}.json")
    return paths


def is_finished_output(path: Path) -> bool:
    """True when ``path`` is a complete posetrack tracks.json (used by --resume)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == SCHEMA and bool(doc.get("stats", {}).get("complete"))


def _run_one(video: Path, out_json: Path, stages: Stages, render: Path | None, bars: _Bars) -> VideoResult:
    try:
        return run_video(video, out_json, stages, render, bars.start, bars.frames)
    except PosetrackError as exc:
        return VideoResult(str(video), str(out_json), "failed", error=str(exc))
    except (MemoryError, RuntimeError, ValueError, OSError) as exc:  # one bad video must not stop the batch
        log.debug("video %s failed", video, exc_info=True)
        return VideoResult(str(video), str(out_json), "failed", error=f"{type(exc).__name__}: {exc}".split("\n")[0])


def run_batch(folder: Path, out_dir: Path, config: PipelineConfig, render_dir: Path | None, resume: bool,
              quiet: bool) -> list[VideoResult]:
    videos = find_videos(folder)
    if not videos:
        raise InputError(f"{folder}: no videos found (looked recursively for {', '.join(VIDEO_SUFFIXES)})")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; a folder of videos needs an output folder")
    outputs = output_paths(videos, folder, out_dir)
    stages = build_stages(config)  # models are loaded once for the whole folder
    results: list[VideoResult] = []
    bars = _Bars(quiet, len(videos))
    try:
        for video, out_json in zip(videos, outputs):
            if resume and is_finished_output(out_json):
                results.append(VideoResult(str(video), str(out_json), "skipped"))
                bars.video_done()
                continue
            render = None if render_dir is None else render_dir / out_json.relative_to(out_dir).with_suffix(".mp4")
            results.append(_run_one(video, out_json, stages, render, bars))
            bars.video_done()
    finally:
        bars.close()
        write_summary(out_dir / "summary.json", results, videos)
    return results


def write_summary(path: Path, results: list[VideoResult], videos: list[Path]) -> None:
    """Per-video status (done, skipped, failed + reason, or pending when the run was interrupted)."""
    seen = {r.video for r in results}
    rows = [asdict(r) for r in results] + [{"video": str(v), "status": "pending"} for v in videos
                                           if str(v) not in seen]
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "skipped", "failed", "pending")}
    with atomic_write(path) as fh:
        json.dump({"videos": rows, "counts": counts}, fh, indent=1)

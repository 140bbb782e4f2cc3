"""Running one video or a folder of videos with progress bars, per-video failure isolation, resume and a
``summary.json``. Used by the CLI (this is where progress bars are switched on).

Resume (``--resume``) skips a video only when its ``tracks.json`` is complete, parses, was made with the same
configuration, and every other requested output (extra formats, overlay) exists; anything else is redone from the
first frame. The pipeline is deterministic on the CPU, so a run killed at any point and resumed ends with the same
files as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from posetrack_cli.config import PipelineConfig
from posetrack_cli.download import Progress
from posetrack_cli.errors import DependencyError, InputError, OutputError, PosetrackError
from posetrack_cli.export.atomic import atomic_write
from posetrack_cli.export.native import SCHEMA
from posetrack_cli.pipeline import BoxSource, Stages, VideoResult, build_stages, result_config, run_video
from posetrack_cli.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, probe, scan_folder, sink_leftovers

if TYPE_CHECKING:
    from posetrack_cli.distributed import RayConfig

log = logging.getLogger(__name__)

STATUSES = ("done", "skipped", "failed", "interrupted", "pending")


class _Bars:
    """A per-video frame bar (fps and ETA) inside an optional overall bar; counts the frames of the current video."""

    def __init__(self, quiet: bool, videos: int | None = None) -> None:
        self.quiet = quiet
        self.overall = None if quiet or videos is None else tqdm(total=videos, unit="video", desc="videos",
                                                                 position=0, dynamic_ncols=True)
        self.bar = None
        self.done = 0  # frames of the current video

    def start(self, info, max_frames: int | None = None) -> None:
        self.done = 0
        if not self.quiet:
            total = min(info.frame_count, max_frames or info.frame_count) or max_frames
            self.bar = tqdm(total=total or None, unit="frame", desc=Path(info.path).name[:30],
                            position=1 if self.overall else 0, leave=self.overall is None, dynamic_ncols=True)

    def frames(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def video_done(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.overall is not None:
            self.overall.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.overall is not None:
            self.overall.close()
            self.overall = None


# glibc mallopt parameters (malloc.h) and the values that keep the heap flat on long videos: large buffers (frames,
# crop batches, network activations) are mmapped and returned to the system when freed, instead of fragmenting
# per-thread arenas. Measured in benchmarks/bench_memory.py: without them RSS grows ~190 MB over 3,000 frames.
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": (-3, 64 * 1024), "MALLOC_TRIM_THRESHOLD_": (-1, 128 * 1024),
            "MALLOC_ARENA_MAX": (-8, 2)}


def limit_heap_growth() -> bool:
    """Tune glibc's allocator for bounded memory (a fixed mmap threshold, few arenas); a setting the user gave in
    the environment is left alone. Process-wide: called once by the CLI. False where malloc is not glibc's."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    for env, (param, value) in _MALLOPT.items():
        if env not in os.environ and not libc.mallopt(param, value):
            log.debug("mallopt(%d, %d) refused", param, value)
    return True


def check_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it, or raise a one-line ``OutputError`` (before any model is loaded)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}; choose a writable output path") \
            from None


def single_output_path(video: Path, out: Path) -> Path:
    """``out``, or ``out/<video stem>.json`` when ``out`` is a folder (a sequence folder's whole name)."""
    return out / f"{video.name if video.is_dir() else video.stem}.json" if out.is_dir() else out


def run_single(video: Path, out: Path, config: PipelineConfig, render: Path | None, quiet: bool,
               boxes: BoxSource | None = None, download: Progress | None = None) -> VideoResult:
    """One video or image-sequence folder (frames at ``config.sequence_fps``); ``download`` sees the bytes of
    weights downloaded on first use."""
    probe(video, config.sequence_fps)  # a bad input fails in a second, before any model is loaded
    out_json = single_output_path(video, out)
    for folder in {out_json.parent, *([render.parent] if render else [])}:
        check_writable(folder)
    stages = build_stages(config, boxes, download)
    bars = _Bars(quiet)
    try:
        return run_video(video, out_json, stages, render, bars.start, bars.frames)
    finally:
        bars.close()


def output_paths(videos: list[Path], root: Path, out_dir: Path) -> list[Path]:
    """One JSON per video or sequence folder, mirroring the folder tree. A sequence folder keeps its whole name
    (``root`` itself: its own name); videos sharing a stem with another video or a sequence folder in one folder
    keep their suffix (``x.mp4.json`` beside ``x.avi.json`` or the sequence's ``x.json``)."""
    rels = [v.relative_to(root) if v != root else Path(root.resolve().name) for v in videos]
    keys = [rel if v.is_dir() else rel.with_suffix("") for v, rel in zip(videos, rels)]
    paths = []
    for v, rel, key in zip(videos, rels, keys):
        name = rel.name if v.is_dir() or keys.count(key) > 1 else rel.stem
        paths.append(out_dir / rel.parent / f"{name}.json")
    return paths


def extra_outputs(out_json: Path, config: PipelineConfig) -> list[Path]:
    """The files of the non-native formats written beside ``out_json``."""
    from posetrack_cli.export import FORMATS

    return [out_json.with_name(out_json.stem + FORMATS[name][1]) for name in config.output.formats
            if name != "native"]


def finished_stats(path: Path, config: PipelineConfig | None = None,
                   detectors: list[str] | None = None) -> dict | None:
    """The ``stats`` of ``path`` when it is a complete posetrack tracks.json (made with ``config`` and the box
    source ``detectors``, e.g. ``["supplied:boxes.json"]``, when given) whose every frame parses; None otherwise.
    Reads line by line: memory stays O(one frame) however long the video."""
    try:
        with open(path, encoding="utf-8") as fh:
            head, frames, tail = _read_tracks_lines(fh)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    stats = tail.get("stats") if isinstance(tail, dict) else None
    if not isinstance(head, dict) or head.get("schema") != SCHEMA or not isinstance(stats, dict):
        return None
    if stats.get("complete") is not True or stats.get("frames") != frames:
        return None
    if config is not None and head.get("config") != json.loads(json.dumps(result_config(config))):
        log.info("%s was made with other settings; redoing it", path)
        return None
    if detectors is not None and (head.get("models") or {}).get("detectors") != detectors:
        log.info("%s was made from other boxes (%s); redoing it", path, (head.get("models") or {}).get("detectors"))
        return None
    return stats


_FRAMES_OPEN = ',"frames":[\n'


def _read_tracks_lines(fh) -> tuple[dict, int, dict]:
    """(header, frame count, tail) of a tracks.json in the one-frame-per-line layout of ``native.write_tracks_json``
    (any other layout is parsed whole)."""
    first = fh.readline()
    if not first.endswith(_FRAMES_OPEN):
        fh.seek(0)
        doc = json.load(fh)
        return doc, len(doc.get("frames", [])), doc
    head, frames = json.loads(first[:-len(_FRAMES_OPEN)] + "}"), 0
    for line in fh:
        if line.startswith("],"):
            tail = json.loads("{" + line[2:])
            if fh.read().strip():
                raise ValueError("data after the end")
            return head, frames, tail
        json.loads(line.rstrip("\n").removesuffix(","))
        frames += 1
    raise ValueError("file ends inside the frames")


def _remove_leftovers(targets: list[Path], overlay: Path | None) -> None:
    """Delete temporary files a killed run left beside these outputs (atomic_write and VideoSink names)."""
    leftovers = [p for t in targets for p in t.parent.glob(f".{glob.escape(t.name)}.*.tmp")]
    leftovers += sink_leftovers(overlay) if overlay is not None else []
    for path in leftovers:
        with contextlib.suppress(OSError):
            path.unlink()
            log.info("removed %s, left by an interrupted run", path)


def _run_one(video: Path, out_json: Path, stages: Stages, render: Path | None, bars: _Bars) -> VideoResult:
    try:
        return run_video(video, out_json, stages, render, bars.start, bars.frames)
    except (OutputError, DependencyError):
        raise  # a full disk, a read-only folder or a broken dependency fails every later video too: the batch stops
    except PosetrackError as exc:
        return VideoResult(str(video), str(out_json), "failed", error=str(exc))
    except (MemoryError, RuntimeError, ValueError, OSError) as exc:  # one bad video must not stop the batch
        log.debug("video %s failed", video, exc_info=True)
        return VideoResult(str(video), str(out_json), "failed", error=f"{type(exc).__name__}: {exc}".split("\n")[0])


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


def run_batch(folder: Path, out_dir: Path, config: PipelineConfig, render_dir: Path | None, resume: bool,
              quiet: bool, ray: RayConfig | None = None, limit: int | None = None,
              boxes: BoxSource | None = None, download: Progress | None = None) -> list[VideoResult]:
    """``limit``: only the first N videos (sorted); ``boxes``: supplied person boxes instead of the detectors;
    every video and image-sequence folder (frames at ``config.sequence_fps``) under ``folder`` is one item;
    ``download`` sees the bytes of weights downloaded on first use."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; a folder of videos needs an output folder")
    videos, results = _find_inputs(folder)
    videos = videos[:limit] if limit else videos
    for target in {out_dir, *([render_dir] if render_dir else [])}:
        check_writable(target)
    _remove_leftovers([out_dir / "summary.json"], None)
    outputs = output_paths(videos, folder, out_dir)
    if ray is not None:  # the same videos, outputs, resume and summary, run by workers of a Ray cluster
        from posetrack_cli.distributed import run_on_ray

        return run_on_ray(videos, outputs, results, out_dir, config, render_dir, resume, quiet, ray, boxes=boxes)
    bars = _Bars(quiet, len(videos))
    current = None
    try:
        stages = build_stages(config, boxes, download) if videos else None  # models load once for the whole folder
        for video, out_json in zip(videos, outputs):
            current, bars.done = (video, out_json), 0
            render = render_path(out_json, out_dir, render_dir)
            results.append(_resume_or_run(video, out_json, stages, render, bars, resume))
            bars.video_done()
        current = None
    except BaseException as exc:  # Ctrl-C, SIGTERM, disk full: record where it stopped, keep the original error
        if current is not None:
            results.append(_stopped_row(current[0], current[1], exc, bars.done))
        bars.close()
        with contextlib.suppress(PosetrackError):  # the disk may be full: the original error is the one to show
            write_summary(out_dir / "summary.json", results, videos)
        raise
    bars.close()
    write_summary(out_dir / "summary.json", results, videos)
    return results


def _stopped_row(video: Path, out_json: Path, exc: BaseException, frames: int) -> VideoResult:
    if isinstance(exc, (OutputError, DependencyError)):
        return VideoResult(str(video), str(out_json), "failed", frames=frames, error=str(exc))
    return VideoResult(str(video), str(out_json), "interrupted", frames=frames,
                       error=f"stopped by {type(exc).__name__} after {frames} frames (kept in the .jsonl)")


def _resume_or_run(video: Path, out_json: Path, stages: Stages, render: Path | None, bars: _Bars,
                   resume: bool) -> VideoResult:
    skipped = skip_or_clean(video, out_json, stages.config, render, resume, stages.models()["detectors"])
    return skipped if skipped is not None else _run_one(video, out_json, stages, render, bars)


def skip_or_clean(video: Path, out_json: Path, config: PipelineConfig, render: Path | None, resume: bool,
                  detectors: list[str] | None = None) -> VideoResult | None:
    """The "skipped" row of a video finished in an earlier run (with ``resume``: same settings, same box source
    ``detectors`` as ``Stages.models`` records them, default the configured detectors); otherwise None, after
    deleting what a killed run left beside its outputs. Shared by the local loop and the Ray driver."""
    extras = extra_outputs(out_json, config)
    if resume:
        stats = finished_stats(out_json, config, list(config.detect.detectors) if detectors is None else detectors)
        if stats is not None and all(p.exists() for p in extras) and (render is None or render.exists()):
            return VideoResult(str(video), str(out_json), "skipped", stats.get("frames", 0), stats.get("people", 0),
                               stats.get("tracks", 0), warning="finished in an earlier run")
    _remove_leftovers([out_json, *extras], render)
    return None


def render_path(out_json: Path, out_dir: Path, render_dir: Path | None) -> Path | None:
    """The overlay of ``out_json`` under ``render_dir``, mirroring the output tree."""
    return None if render_dir is None else render_dir / out_json.relative_to(out_dir).with_suffix(".mp4")


def write_summary(path: Path, results: list[VideoResult], videos: list[Path]) -> None:
    """Per-video status (done, skipped, failed + reason, interrupted, or pending when the run stopped first)."""
    seen = {r.video for r in results}
    rows = [asdict(r) for r in results] + [{"video": str(v), "status": "pending"} for v in videos
                                           if str(v) not in seen]
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
    totals = {k: sum(r.get(k, 0) for r in rows) for k in ("frames", "people", "seconds")}
    with atomic_write(path) as fh:
        json.dump({"videos": rows, "counts": counts, "totals": totals}, fh, indent=1)
        fh.write("\n")


def _forward_line(r: VideoResult) -> str:
    """Network forwards against everything else (decoding, crops, NMS, flow, tracking, writing) in the run."""
    forward = min(r.forward_seconds, r.seconds)
    share = 100 * forward / r.seconds if r.seconds else 0.0
    return (f"{'':13s}network forward {share:.1f} % / overhead {100 - share:.1f} % of {r.seconds:.1f} s "
            "(decode/write: time waited for the reader/writer threads)")


def format_summary(results: list[VideoResult], profile: bool = False) -> list[str]:
    """The run as a table (one row per video, notes indented below it, totals when there are several)."""
    lines = [f"{'status':11s} {'frames':>7s} {'people':>7s} {'tracks':>6s} {'seconds':>8s} {'fps':>6s}  video"]
    for r in results:
        fps = f"{r.frames / r.seconds:6.2f}" if r.frames and r.seconds else f"{'-':>6s}"
        target = f" -> {r.output}" if r.status == "done" else ""
        lines.append(f"{r.status:11s} {r.frames:7d} {r.people:7d} {r.tracks:6d} {r.seconds:8.1f} {fps}  "
                     f"{r.video}{target}")
        lines += [f"{'':13s}{note}" for note in (r.warning, r.error) if note]
        if profile and r.profile:
            total = sum(r.profile.values()) or 1.0
            lines += [f"{'':13s}{stage:7s} {sec:8.2f} s {100 * sec / total:5.1f} %"
                      for stage, sec in sorted(r.profile.items(), key=lambda kv: -kv[1])]
            lines.append(_forward_line(r))
    if len(results) > 1:
        counts = ", ".join(f"{n} {s}" for s in STATUSES if (n := sum(r.status == s for r in results)))
        lines.append(f"{'total':11s} {sum(r.frames for r in results):7d} {sum(r.people for r in results):7d} "
                     f"{sum(r.tracks for r in results):6d} {sum(r.seconds for r in results):8.1f} {'':6s}  "
                     f"{len(results)} videos: {counts}")
    return lines

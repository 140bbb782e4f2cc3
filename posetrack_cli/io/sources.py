"""One entry to every kind of source: ``probe`` and ``iter_timed_frames`` dispatch to the reader of a video file
(``video.py``) or of a folder of frames (``images.py``); what ``posetrack run PATH`` makes of a path (``input_kind``:
a video, one sequence, or a batch of videos and sequence folders) and the folder scan of a batch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from posetrack_cli.errors import InputError
from posetrack_cli.io.images import (
    DEFAULT_FPS,
    IMAGE_SUFFIXES,
    ignored_note,
    iter_sequence_frames,
    list_folder,
    probe_sequence,
)
from posetrack_cli.io.stream import is_live
from posetrack_cli.io.video import VIDEO_SUFFIXES, iter_video_frames, probe_video
from posetrack_cli.records import Frame, VideoInfo

log = logging.getLogger(__name__)

INPUT_TYPES = ("auto", "video", "frames", "batch", "stream")  # what ``posetrack run --input-type`` accepts
# ("stream": a camera, a stream URL, or a video file replayed live at its own frame rate; io/stream.py)


def probe(path: str | os.PathLike, sequence_fps: float | None = None) -> VideoInfo:
    """What ``path`` holds, read from its first frame; a clear ``InputError`` when it is missing or not a video. A
    folder is an image sequence (``images.probe_sequence``, at ``sequence_fps``, default ``images.DEFAULT_FPS``)."""
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise InputError(f"{p}: broken symbolic link (to {os.readlink(p)}); fix or remove the link")
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        return probe_sequence(p, sequence_fps or DEFAULT_FPS)
    return probe_video(p)


def iter_timed_frames(info: VideoInfo, max_frames: int | None = None, start: int = 0) -> Iterator[Frame]:
    """Every decodable ``Frame`` of the source with index in ``[start, max_frames)``, in order, upright, BGR; one
    frame in memory at a time (``video.iter_video_frames``, ``images.iter_sequence_frames``)."""
    if info.kind == "frames":
        yield from (f for f in iter_sequence_frames(info, max_frames) if f.index >= start)
        return
    yield from iter_video_frames(info, max_frames, start)


def iter_frames(info: VideoInfo, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` pairs of ``iter_timed_frames``."""
    for frame in iter_timed_frames(info, max_frames):
        yield frame.index, frame.image


def truncation_note(info: VideoInfo, decoded: int, last_time_s: float, max_frames: int | None) -> str:
    """A warning when decoding stopped before the announced end of the video ("" when it did not).

    Containers without a frame index (MKV, WebM, variable frame rate) announce duration x fps, so a frame-count
    shortfall only counts when the last decoded frame is also more than two frame intervals before that duration.
    """
    expected = info.frame_count if max_frames is None else min(info.frame_count, max_frames)
    if info.kind == "frames":  # frames of a sequence are skipped, never cut off: say how many
        return f"{expected - decoded} of {expected} images unreadable or of another size, skipped (see the log); " \
            "their positions stay empty" if decoded < expected else ""
    if not expected or decoded >= expected - 1:  # containers may count one frame more than they decode
        return ""
    if last_time_s + 2.0 / info.fps >= info.frame_count / info.fps:
        return ""
    return f"truncated: decoded {decoded} of {expected} announced frames; results for decoded frames kept"


@dataclass
class FolderScan:
    """The videos and image sequences under a folder, the sub-folders that could not be listed, and notes on what
    was ignored."""

    videos: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    sequences: list[Path] = field(default_factory=list)  # folders holding images (and no video) directly
    notes: list[str] = field(default_factory=list)


def scan_folder(folder: str | os.PathLike) -> FolderScan:
    """Every video file and every sequence folder under ``folder`` (recursive, sorted; hidden files and folders
    skipped). Files with a video suffix are listed even when unreadable or broken links, so that each is reported;
    folders that cannot be listed are collected in ``unreadable``. Images beside a video are not a sequence (posters,
    thumbnails): noted and ignored, as are other files in a sequence folder."""
    root = Path(folder)
    scan = FolderScan()

    def on_error(exc: OSError) -> None:
        scan.unreadable.append(Path(exc.filename) if exc.filename else root)

    for top, dirs, files in os.walk(root, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files = [f for f in files if not f.startswith(".")]
        videos = [Path(top) / f for f in files if Path(f).suffix.lower() in VIDEO_SUFFIXES]
        images = sum(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files)
        scan.videos += videos
        if images and videos:
            scan.notes.append(f"{top}: {images} image(s) beside videos ignored (not a sequence; run the folder "
                              "with --input-type frames to track them)")
        elif images:
            scan.sequences.append(Path(top))
            if images < len(files):
                scan.notes.append(f"{top}: {len(files) - images} file(s) that are not frames ignored")
    scan.videos.sort()
    scan.sequences.sort()
    scan.unreadable.sort()
    return scan


def input_kind(path: str | Path, requested: str = "auto") -> str:
    """``video``, ``frames`` (one sequence), ``batch`` or ``stream`` for ``posetrack run SOURCE``; ``requested``
    overrides the guess. Auto: a camera (``0``, ``/dev/video0``) or a stream URL (given as a string: a ``Path``
    folds ``//``) is a stream; a file is a video; a folder whose only media are its own images is one sequence; any
    other folder is a batch of its videos and sequence folders (any depth). A sequence's ignored files are logged
    here, once."""
    if requested not in INPUT_TYPES:
        raise InputError(f"unknown input type {requested!r}; choose from {', '.join(INPUT_TYPES)}")
    if requested == "stream" or (requested == "auto" and is_live(str(path))):
        return "stream"
    path = Path(path)
    if not path.is_dir():
        if requested in ("frames", "batch"):
            raise InputError(f"{path} is not a folder; --input-type {requested} needs a folder")
        return "video"  # probe() names a missing file, a broken link or a non-video
    if requested == "video":
        raise InputError(f"{path} is a folder; --input-type video needs a video file")
    if requested == "auto":
        scan = scan_folder(path)
        requested = "frames" if scan.sequences == [path] and not scan.videos and not scan.unreadable else "batch"
    if requested == "frames":
        note = ignored_note(path, list_folder(path))
        if note:
            log.warning("%s", note)
    return requested

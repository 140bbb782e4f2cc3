"""Video in and out: ``VideoInfo``, a streaming frame generator over anything OpenCV reads, and ``VideoSink``."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from posetrack_cli.errors import InputError, OutputError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # frames per second reported by the container (25 when it reports none)
    width: int  # pixels
    height: int  # pixels
    frame_count: int  # frames the container announces (may be 0 or wrong for streams and truncated files)

    def to_dict(self) -> dict:
        return {"path": self.path, "fps": self.fps, "width": self.width, "height": self.height,
                "frame_count": self.frame_count}


@contextlib.contextmanager
def _capture(path: Path) -> Iterator[cv2.VideoCapture]:
    cap = cv2.VideoCapture(str(path))
    try:
        yield cap
    finally:
        cap.release()


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` and read its first frame; a clear ``InputError`` when it is missing or not a video."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give a video file, or pass the folder to process every video in it")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied; make the file readable")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes); it is not a video")
    with _capture(p) as cap:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise InputError(f"{p}: cannot decode any frame (not a video, corrupt, or a codec OpenCV lacks); "
                             "re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 25.0
    return VideoInfo(str(p), fps, int(frame.shape[1]), int(frame.shape[0]), max(count, 0))


def iter_frames(info: VideoInfo, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` with frames as BGR uint8 (H, W, 3), grayscale input converted to BGR.

    Streams: one frame in memory at a time. Stops early at the end of decodable data; the caller compares the count
    with ``info.frame_count`` to report truncation.
    """
    with _capture(Path(info.path)) as cap:
        index = 0
        while max_frames is None or index < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            elif frame.shape[2] == 4:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
            yield index, frame
            index += 1


class VideoSink:
    """Write frames to a video at a given fps and size; used as a context manager, written to a temporary name and
    renamed on success (a failed run leaves no half file under the final name)."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.fps = fps
        self.size = size  # (width, height)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0

    def __enter__(self) -> VideoSink:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path.parent}: {exc.strerror}; choose a writable path") from None
        fourcc = cv2.VideoWriter_fourcc(*("XVID" if self.path.suffix.lower() == ".avi" else "mp4v"))
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            raise OutputError(f"cannot open {self.path} for writing video; check the folder and the file suffix "
                              "(.mp4 or .avi)")
        return self

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.release()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            with contextlib.suppress(OSError):
                self._tmp.unlink()


def find_videos(folder: str | os.PathLike) -> list[Path]:
    """Every video file under ``folder`` (recursive, sorted; hidden files and folders skipped)."""
    root = Path(folder)
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
    return found

"""Image sequences: a folder of frames (PoseTrack's ``images/val/<sequence>/000000.jpg ...``) read as one video.

A sequence is the image files directly inside one folder (suffixes ``IMAGE_SUFFIXES``, any case), in natural order
(``frame2`` before ``frame10``); hidden files (``.DS_Store``, macOS ``._000001.jpg``) are skipped, other files are
ignored with a note. A folder stores no frame rate: it is an option (``DEFAULT_FPS``) and frame k is at k / fps s.

An image that cannot be read, or whose size differs from the sequence's (the first readable image's), is skipped with
a warning and its position stays empty: frame indices and names keep following the files, so PoseTrack exports (matched
to the ground truth by position) still line up. ``sources.truncation_note`` reports how many were skipped.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2

from posetrack_cli.config import DEFAULT_SEQUENCE_FPS
from posetrack_cli.errors import InputError
from posetrack_cli.io.video import VIDEO_SUFFIXES
from posetrack_cli.records import Frame, VideoInfo

log = logging.getLogger(__name__)

DEFAULT_FPS = DEFAULT_SEQUENCE_FPS  # frames per second of a folder of frames (config.DEFAULT_SEQUENCE_FPS)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # frames of an image sequence


def natural_key(name: str) -> tuple:
    """Sort key putting ``frame2`` before ``frame10`` (digit runs compare as numbers, letters case-blind); the name
    itself breaks ties (``01.png`` / ``1.png``) so the order is total."""
    parts = re.split(r"(\d+)", name)  # even positions text, odd positions digits: comparisons never mix types
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


@dataclass
class FolderFiles:
    """The non-hidden files directly inside one folder, by kind (names, images in natural order)."""

    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


def classify_files(names: list[str]) -> FolderFiles:
    files = FolderFiles()
    for name in names:
        if name.startswith("."):
            continue
        suffix = os.path.splitext(name)[1].lower()
        kind = files.images if suffix in IMAGE_SUFFIXES else files.videos if suffix in VIDEO_SUFFIXES else \
            files.other
        kind.append(name)
    files.images.sort(key=natural_key)
    return files


def list_folder(folder: Path) -> FolderFiles:
    """The files of ``folder`` (sub-folders are not looked into), or a one-line ``InputError``."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_file()]
    except OSError as exc:
        raise InputError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    return classify_files(names)


def ignored_note(folder: Path, files: FolderFiles) -> str:
    """What of a sequence folder is not one of its frames ("" when nothing)."""
    ignored = files.other + files.videos
    if not ignored:
        return ""
    shown = ", ".join(ignored[:3]) + (", ..." if len(ignored) > 3 else "")
    return f"{folder}: {len(ignored)} file(s) that are not frames ignored ({shown})"


def probe_sequence(folder: Path, fps: float = DEFAULT_FPS) -> VideoInfo:
    """List the images of ``folder`` and read the first one (the others are only listed: fast on any length)."""
    files = list_folder(folder)
    if not files.images:
        raise InputError(f"{folder} is a folder with no images ({' '.join(IMAGE_SUFFIXES)}) in it; give a video "
                         "file or a folder of frames (a folder of videos or sequence folders runs as a batch)")
    for name in files.images:  # the first readable image sets the size; the iterator skips the unreadable ones
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is not None:
            return VideoInfo(str(folder), float(fps), int(image.shape[1]), int(image.shape[0]), len(files.images),
                             kind="frames", frame_names=tuple(files.images))
    raise InputError(f"{folder}: none of its {len(files.images)} images can be read (corrupt or not images)")


def iter_sequence_frames(info: VideoInfo, max_frames: int | None = None) -> Iterator[Frame]:
    """Yield the frames of an image sequence, one in memory at a time, BGR; frame k is the k-th file (name set)
    at k / fps seconds. Unreadable images and images of another size are skipped with a warning."""
    folder = Path(info.path)
    names = info.frame_names if max_frames is None else info.frame_names[:max_frames]
    for index, name in enumerate(names):
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)  # grey and BGRA become BGR, EXIF turns upright
        if image is None:
            log.warning("%s: cannot read this image; frame %d skipped", folder / name, index)
            continue
        if image.shape[:2] != (info.height, info.width):
            log.warning("%s: %dx%d, not the sequence's %dx%d; frame %d skipped", folder / name, image.shape[1],
                        image.shape[0], info.width, info.height, index)
            continue
        yield Frame(index, index / info.fps, image, name)



"""Still images through detection (or supplied boxes), top-down pose, re-scoring and OKS-NMS, without tracking
(``posetrack pose``): the COCO keypoint results of a set of images.

Images come from files and folders (recursive, natural sort) or from a COCO annotation file's image list. Each
image's id is the annotation file's, else the number in its file name (COCO ``000000397133.jpg`` -> 397133); when
some image has neither (or two share one), every image is numbered by its position instead, and a warning says so.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from posetrack_cli.detect.supplied import ImageIds, image_id_of
from posetrack_cli.errors import InputError
from posetrack_cli.export.coco import pose_entries
from posetrack_cli.io.images import IMAGE_SUFFIXES, natural_key
from posetrack_cli.pipeline import Stages, suppress_poses
from posetrack_cli.records import Detections

log = logging.getLogger(__name__)

DEFAULT_BOX_THRESHOLD = 0.0  # people whose box score is below this are left out of the results; 0 keeps all (COCO
# evaluation ranks them by score, so low-scoring people cost nothing)


@dataclass(frozen=True)
class StillImage:
    path: Path
    image_id: int


@dataclass
class StillsRun:
    """What a run produced: COCO result entries, counts, per-image failures (path, reason) and its duration."""

    results: list[dict] = field(default_factory=list)
    images: int = 0  # images processed (failures included)
    people: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _images_under(folder: Path) -> list[Path]:
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(top) / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda p: natural_key(str(p)))


def images_from_paths(paths: list[Path], ids: ImageIds | None = None) -> list[StillImage]:
    """The image files of ``paths`` (files as given, folders searched recursively in natural order) with ids."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = _images_under(p)
            if not found:
                raise InputError(f"{p}: no images found (looked recursively for {', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif p.is_file() or p.is_symlink():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise InputError(f"{p}: not an image ({', '.join(IMAGE_SUFFIXES)}); for videos use `posetrack run`")
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder; check the path")
    numbers = [image_id_of(f.parent.name, f.name, k, ids) for k, f in enumerate(files)]
    if None in numbers or len(set(numbers)) != len(numbers):
        log.warning("not every image has a unique number in its name or an --image-ids entry; image ids are the "
                    "positions 0..%d in the sorted list instead", len(files) - 1)
        numbers = list(range(len(files)))
    return [StillImage(f, int(n)) for f, n in zip(files, numbers)]


def images_from_annotation(path: Path, image_root: Path | None) -> tuple[list[StillImage], ImageIds]:
    """The images of a COCO annotation file (in its order) under ``image_root``, and its file_name -> id list."""
    if image_root is None:
        raise InputError(f"{path}: an annotation file as the image list needs --image-root (the image folder, "
                         "e.g. coco/val2017)")
    try:
        with open(path, encoding="utf-8") as fh:
            images = json.load(fh)["images"]
        listed = [(str(im["file_name"]), int(im["id"])) for im in images]
    except OSError as exc:
        raise InputError(f"{path}: cannot read the annotation file ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a COCO annotation file with images[].file_name and id ({exc})") from None
    return [StillImage(image_root / name, image_id) for name, image_id in listed], ImageIds(listed)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _read(image: StillImage) -> tuple[np.ndarray | None, str]:
    if not image.path.is_file():
        return None, "no such file"
    pixels = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    return (pixels, "") if pixels is not None else (None, "cannot decode the image (corrupt or not an image)")


def _boxes(stages: Stages, ok: list[tuple[int, StillImage, np.ndarray]], position: int) -> list[Detections]:
    """The detectors' boxes, or the supplied ones (a per-frame file's ``frame`` = the position in the list)."""
    if stages.boxes is None:
        return stages.detector.detect([px for _, _, px in ok])
    return [stages.boxes.lookup(im.path.parent.name, position + k, im.path.name, im.image_id) for k, im, _ in ok]


def run_stills(images: list[StillImage], stages: Stages, batch_size: int, box_threshold: float = DEFAULT_BOX_THRESHOLD,
               on_images: Callable[[int], None] | None = None) -> StillsRun:
    """Pose every image; ``batch_size`` images go through detection and pose together. An unreadable image is
    recorded in ``failed`` and the others still run. ``box_threshold``: people with a lower box score are left out
    of the results."""
    cfg = stages.config
    run, start = StillsRun(), time.perf_counter()
    for position, chunk in zip(range(0, len(images), batch_size), _chunks(images, batch_size)):
        read = [_read(im) for im in chunk]
        run.failed += [(str(im.path), why) for im, (px, why) in zip(chunk, read) if px is None]
        ok = [(k, im, px) for k, (im, (px, _)) in enumerate(zip(chunk, read)) if px is not None]
        if ok:
            poses = stages.estimator.estimate([px for _, _, px in ok], _boxes(stages, ok, position))
            for (_, im, _), p in zip(ok, poses):
                p = suppress_poses(p, cfg.pose.min_pose_score, cfg.pose.oks_nms)
                entries = pose_entries(p, im.image_id, box_threshold)
                run.results += entries
                run.people += len(entries)
        run.images += len(chunk)
        if on_images:
            on_images(len(chunk))
    run.seconds = time.perf_counter() - start
    return run

"""Person boxes supplied from a file instead of the detectors (``--boxes``), kept exactly as written.

Formats (auto-detected from the content; ``--boxes-format`` overrides; docs/SCHEMA.md "Supplied person boxes"):
- ``coco``: COCO detection results, a list of ``{image_id, bbox: [x, y, w, h], score, category_id}`` (the format of
  ``COCO_val2017_detections_AP_H_56_person.json``); only category 1 (person) is kept. Frames are matched by image id.
- ``frames``: ``{"frames": [{"frame": 0, "boxes": [[x1, y1, x2, y2, score], ...]}]}`` or a CSV with the header
  ``frame,x1,y1,x2,y2,score``; a frame is named by ``frame`` (0-based index) or ``name`` (image file name); an
  optional ``video`` key/column (or a top-level ``"video"``) names the video, for folder runs.
- ``gt``: ground-truth boxes (score 1.0) of a COCO keypoint annotation file (``bbox``; crowd regions and people
  without keypoints left out, as MMPose's top-down COCO loader does) or a PoseTrack 2018 file (``bbox``, else the
  extent of the annotated joints) or PoseTrack 2017 file (``annolist``: the extent of the annotated joints; PT17
  ``x1..y2`` are head boxes). Joint extents get no margin: the crop adds its 1.25 padding.
``--boxes DIR`` reads every .json/.csv under DIR; a per-frame file there without its own ``video`` names the video
with the same stem.

Image ids of frames (``coco`` and PoseTrack 2018 ``gt``): from an image list (``--image-ids``: a COCO/PoseTrack
annotation file or folder, file_name -> id), else the number in the file name (COCO ``000000397133.jpg`` -> 397133),
else, for a video file, the frame index (as ``--format coco`` writes them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from posetrack_cli.detect.box_files import (
    BoxTable,
    ImageIds,
    bad,
    coco_results,
    frames_csv,
    frames_json,
    gt_coco,
    gt_pt17,
)
from posetrack_cli.errors import InputError, one_line
from posetrack_cli.io.files import read_json
from posetrack_cli.records import Detections

__all__ = ["FORMATS", "BoxTable", "ImageIds", "SuppliedBoxes", "image_id_of", "load_boxes", "load_image_ids"]

log = logging.getLogger(__name__)

FORMATS = ("auto", "coco", "frames", "gt")
_FILE_SUFFIXES = (".json", ".csv")


def image_id_of(folder: str, name: str, index: int, ids: ImageIds | None) -> int | None:
    """The image id of a frame: the image list's, else the file name's number, else (a video) the frame index."""
    if not name:
        return index
    if ids is not None:
        found = ids.lookup(folder, name)
        if found is not None:
            return found
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else None


class SuppliedBoxes:
    """A ``pipeline.BoxSource`` over loaded tables. Records which keys were used, for ``unused_note``."""

    def __init__(self, tables: list[BoxTable], name: str, image_ids: ImageIds | None = None) -> None:
        self.tables = tables
        self.name = name  # "supplied:<file name>", recorded as the detector in the output
        self.image_ids = image_ids
        self._used: set[tuple[int, object]] = set()
        self._unnamed: set[str] = set()  # videos no table names (warned once each)
        self._shared: set[str] = set()  # videos that used a per-frame table without a video name

    def boxes(self, info, frames) -> list[Detections]:
        path = Path(info.path)
        video = path.name if path.is_dir() else path.stem
        folder = path.name if path.is_dir() else path.parent.name
        return [self.lookup(video, f.index, f.name, image_id_of(folder, f.name, f.index, self.image_ids))
                for f in frames]

    def lookup(self, video: str, index: int, name: str, image_id: int | None) -> Detections:
        """The boxes of one frame (none when the file has none for it)."""
        keys = {"id": image_id, "frame": index, "name": name}
        found = []
        for t, table in enumerate(self.tables):
            if table.video is not None and table.video != video:
                continue
            key = keys[table.kind]
            if table.video is None and table.kind != "id":
                self._note_shared(video)
            if key is not None:
                self._used.add((t, key))
                dets = table.detections(key)
                found += [dets] if dets is not None else []
        if not any(t.video in (None, video) for t in self.tables) and video not in self._unnamed:
            self._unnamed.add(video)
            log.warning("%s has no boxes for video %s; it gets no people", self.name, video)
        if not found:
            return Detections.empty()
        return found[0] if len(found) == 1 else Detections.merge(found)

    def _note_shared(self, video: str) -> None:
        if video not in self._shared:
            self._shared.add(video)
            if len(self._shared) == 2:
                log.warning("%s: per-frame boxes without a video name are used for every video; add a video "
                            "key/column or give a folder of per-video files", self.name)

    def unused_note(self) -> str:
        """"" or one line: how many images/frames of the file never appeared in the input."""
        total = sum(len(t.rows) for t in self.tables)
        unused = total - len(self._used & {(i, k) for i, t in enumerate(self.tables) for k in t.rows})
        if not unused:
            return ""
        return (f"note: {self.name} has boxes for {unused} of {total} images/frames that were not in the input "
                "(a --limit/--max-frames run, or image ids that do not match: see --image-ids)")


def detect_format(data, path: Path) -> str:
    if isinstance(data, list) and all(isinstance(d, dict) and "bbox" in d for d in data[:1]):
        return "coco"
    if isinstance(data, dict) and ("annolist" in data or {"images", "annotations"} <= data.keys()):
        return "gt"
    if isinstance(data, dict) and "frames" in data:
        return "frames"
    raise bad(path, "not a boxes file: expected COCO detection results (a list of {image_id, bbox, score, "
                     "category_id}), a per-frame file ({\"frames\": [...]}) or a COCO/PoseTrack annotation file")


def load_file(path: Path, fmt: str, min_score: float, ids: ImageIds, default_video: str | None = None
              ) -> list[BoxTable]:
    """The tables of one boxes file."""
    if path.suffix.lower() == ".csv":
        if fmt not in ("auto", "frames"):
            raise bad(path, f"a CSV file is a per-frame boxes file; --boxes-format {fmt} needs JSON")
        return frames_csv(path, min_score, default_video)
    data = read_json(path, "boxes file")
    fmt = detect_format(data, path) if fmt == "auto" else fmt
    try:
        if fmt == "coco":
            if not isinstance(data, list):
                raise bad(path, "COCO detection results are a JSON list of {image_id, bbox, score, category_id}")
            return coco_results(data, path, min_score)
        if fmt == "frames":
            if not isinstance(data, dict):
                raise bad(path, "a per-frame boxes file is a JSON object {\"frames\": [...]}")
            return frames_json(data, path, min_score, default_video)
        if isinstance(data, dict) and "annolist" in data:
            return gt_pt17(data)
        if isinstance(data, dict) and {"images", "annotations"} <= data.keys():
            return gt_coco(data, path, ids)
        raise bad(path, "--boxes-format gt needs a COCO keypoint or PoseTrack 2017/2018 annotation file")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise bad(path, f"malformed {fmt} boxes file ({one_line(exc)})") from None


def load_image_ids(path: str | os.PathLike | None) -> ImageIds | None:
    """file_name -> id of the ``images`` of a COCO/PoseTrack 2018 annotation file, or of every .json under a
    folder (PoseTrack: one file per sequence)."""
    if path is None:
        return None
    p = Path(path)
    files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
    if not p.exists() or not files:
        raise InputError(f"{p}: no such annotation file or folder (for --image-ids)")
    ids = ImageIds()
    for f in files:
        data = read_json(f, "boxes file")
        try:
            for im in data["images"]:
                ids.add(im["file_name"], im["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f, f"not a COCO/PoseTrack 2018 image list (needs images[].file_name and id; {exc})") from None
    return ids


def load_boxes(path: str | os.PathLike, fmt: str = "auto", min_score: float = 0.0,
               image_ids: ImageIds | None = None) -> SuppliedBoxes:
    """A ``SuppliedBoxes`` from a file, or from every .json/.csv under a folder (a per-frame file there names the
    video with its stem). Boxes below ``min_score`` are dropped; the others are kept exactly."""
    p = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown boxes format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not p.exists():
        raise InputError(f"{p}: no such boxes file or folder; check the path")
    ids = image_ids if image_ids is not None else ImageIds()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in _FILE_SUFFIXES and f.is_file())
        if not files:
            raise InputError(f"{p}: no .json or .csv boxes files in the folder")
        tables = [t for f in files for t in load_file(f, fmt, min_score, ids, default_video=f.stem)]
    else:
        tables = load_file(p, fmt, min_score, ids)
    boxes = SuppliedBoxes(tables, f"supplied:{p.name}", ids if len(ids) else None)
    log.info("%s: %d boxes for %d images/frames", p, sum(len(r) for t in tables for r in t.rows.values()),
             sum(len(t.rows) for t in tables))
    return boxes

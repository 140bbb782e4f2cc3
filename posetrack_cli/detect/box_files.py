"""The boxes files ``--boxes`` reads, parsed into ``BoxTable``s (see ``detect.supplied`` and docs/SCHEMA.md
"Supplied person boxes"). Every value is checked; a bad one raises a one-line ``InputError`` naming the file and the
entry. Boxes are kept exactly as written (COCO ``[x, y, w, h]`` -> ``x1 = x, x2 = x + w``)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

import numpy as np

from posetrack_cli.errors import InputError
from posetrack_cli.records import Detections

PERSON = 1  # COCO category id of "person"


@dataclass
class BoxTable:
    """Boxes of one file (or one video of it), keyed by image id (``kind="id"``), frame index or image name."""

    kind: str  # "id", "frame" or "name"
    video: str | None  # the video (file stem or sequence folder name) it belongs to; None: any video
    rows: dict = field(default_factory=lambda: defaultdict(list))  # key -> [(x1, y1, x2, y2, score), ...]

    def add(self, key, box: tuple[float, float, float, float], score: float) -> None:
        self.rows[key].append((*box, score))

    def detections(self, key) -> Detections | None:
        rows = self.rows.get(key)
        if rows is None:
            return None
        a = np.asarray(rows, np.float64).reshape(-1, 5)
        return Detections(a[:, :4], a[:, 4])


class ImageIds:
    """file name -> COCO/PoseTrack image id, looked up as ``folder/name`` then ``name`` (ambiguous names skipped)."""

    def __init__(self, pairs: Iterable[tuple[str, int]] = ()) -> None:
        self.ids: dict[str, int | None] = {}
        for file_name, image_id in pairs:
            self.add(file_name, image_id)

    def add(self, file_name: str, image_id: int) -> None:
        p = PurePosixPath(str(file_name).replace("\\", "/"))
        self.ids[f"{p.parent.name}/{p.name}"] = int(image_id)
        self.ids[p.name] = None if self.ids.get(p.name, image_id) != image_id else int(image_id)

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, folder: str, name: str) -> int | None:
        found = self.ids.get(f"{folder}/{name}")
        return found if found is not None else self.ids.get(name)


def bad(path: Path, problem: str) -> InputError:
    return InputError(f"{path}: {problem}")


def _number(value, path: Path, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise bad(path, f"{where}: {value!r} is not a number") from None
    if not math.isfinite(v):
        raise bad(path, f"{where}: {value!r} is not a finite number")
    return v


def _xyxy(values, path: Path, where: str) -> tuple[tuple[float, float, float, float], float]:
    """[x1, y1, x2, y2(, score)] -> the box and its score (1.0 when absent); x2 >= x1 and y2 >= y1."""
    if not isinstance(values, (list, tuple)) or len(values) not in (4, 5):
        raise bad(path, f"{where}: a box is [x1, y1, x2, y2] or [x1, y1, x2, y2, score], got {values!r}")
    x1, y1, x2, y2, *score = (_number(v, path, where) for v in values)
    if x2 < x1 or y2 < y1:
        raise bad(path, f"{where}: box {list(values)} has x2 < x1 or y2 < y1 (boxes are x1, y1, x2, y2)")
    return (x1, y1, x2, y2), score[0] if score else 1.0


def coco_results(data: list, path: Path, min_score: float) -> list[BoxTable]:
    table = BoxTable("id", None)
    for k, d in enumerate(data):
        where = f"entry {k}"
        if not isinstance(d, dict) or "image_id" not in d or "bbox" not in d:
            raise bad(path, f"{where} is not a COCO detection {{image_id, bbox: [x, y, w, h], score, category_id}}")
        if int(_number(d.get("category_id", PERSON), path, where)) != PERSON:
            continue
        bbox = d["bbox"]
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise bad(path, f"{where}: bbox must be [x, y, w, h], got {bbox!r}")
        x, y, w, h = (_number(v, path, where) for v in bbox)
        if w < 0 or h < 0:
            raise bad(path, f"{where}: bbox {bbox} has a negative width or height (COCO boxes are x, y, w, h)")
        score = _number(d.get("score", 1.0), path, where)
        if score >= min_score:
            table.add(int(_number(d["image_id"], path, where)), (x, y, x + w, y + h), score)
    return [table]


def _frame_key(entry: dict, path: Path, where: str) -> tuple[str, object]:
    if entry.get("frame") not in (None, ""):
        value = _number(entry["frame"], path, where)
        if value < 0 or value != int(value):
            raise bad(path, f"{where}: frame {entry['frame']!r} is not a 0-based frame index")
        return "frame", int(value)
    if entry.get("name") not in (None, ""):
        return "name", PurePosixPath(str(entry["name"]).replace("\\", "/")).name
    raise bad(path, f"{where}: name the frame with \"frame\" (0-based index) or \"name\" (image file name)")


def _add_frame_row(tables: dict, entry: dict, box, score: float, default_video, path: Path, where: str) -> None:
    kind, key = _frame_key(entry, path, where)
    video = entry.get("video") or default_video
    video = None if video is None else str(video)
    table = tables.setdefault((kind, video), BoxTable(kind, video))
    if key not in table.rows:
        table.rows[key] = []  # a frame listed with no boxes: known, so not "unused"
    if box is not None:
        table.add(key, box, score)


def frames_json(data: dict, path: Path, min_score: float, default_video: str | None) -> list[BoxTable]:
    frames = data.get("frames")
    if not isinstance(frames, list):
        raise bad(path, "\"frames\" must be a list of {\"frame\": index, \"boxes\": [[x1, y1, x2, y2, score], ...]}")
    default_video = data.get("video") or default_video
    tables: dict = {}
    for k, entry in enumerate(frames):
        where = f"frames[{k}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("boxes", []), list):
            raise bad(path, f"{where} must be {{\"frame\": index, \"boxes\": [[x1, y1, x2, y2, score], ...]}}")
        _add_frame_row(tables, entry, None, 0.0, default_video, path, where)
        for j, values in enumerate(entry.get("boxes", [])):
            box, score = _xyxy(values, path, f"{where}.boxes[{j}]")
            if score >= min_score:
                _add_frame_row(tables, entry, box, score, default_video, path, where)
    return list(tables.values())


def frames_csv(path: Path, min_score: float, default_video: str | None) -> list[BoxTable]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in ("x1", "y1", "x2", "y2") if c not in header]
            if missing or not ({"frame", "name"} & set(header)):
                raise bad(path, f"CSV header {','.join(header) or '(none)'} lacks "
                                 f"{', '.join(missing or ['frame'])}; expected frame,x1,y1,x2,y2,score")
            reader.fieldnames = header
            tables: dict = {}
            for line, row in enumerate(reader, start=2):
                where = f"line {line}"
                values = [row.get(c) for c in ("x1", "y1", "x2", "y2")]
                values += [row["score"]] if row.get("score") not in (None, "") else []
                box, score = _xyxy(values, path, where)
                if score >= min_score:
                    _add_frame_row(tables, row, box, score, default_video, path, where)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise bad(path, f"cannot read the CSV ({exc})") from None
    return list(tables.values())


def _extent(xy: np.ndarray) -> tuple[float, float, float, float] | None:
    """The min/max box of the points (None when it has no area)."""
    if len(xy) == 0:
        return None
    x1, y1 = xy.min(0)
    x2, y2 = xy.max(0)
    return (float(x1), float(y1), float(x2), float(y2)) if x2 > x1 and y2 > y1 else None


def _gt_box(ann: dict) -> tuple[float, float, float, float] | None:
    """A COCO / PoseTrack 2018 annotation's box: ``bbox`` (x, y, w, h) when it has an area, else the joints'
    extent; None for crowd regions and people without labelled keypoints (MMPose ``TopDownCocoDataset``)."""
    if ann.get("iscrowd") or int(ann.get("category_id", PERSON)) != PERSON:
        return None
    kps = ann.get("keypoints")
    if kps is not None and (not kps or max(kps) == 0):
        return None
    bbox = ann.get("bbox")
    if bbox and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0:
        x, y, w, h = (float(v) for v in bbox)
        return x, y, x + w, y + h
    k = np.asarray(kps or [], np.float64).reshape(-1, 3)
    return _extent(k[k[:, 2] > 0, :2])


def gt_coco(data: dict, path: Path, ids: ImageIds) -> list[BoxTable]:
    """COCO keypoint or PoseTrack 2018 annotations -> boxes by image id; its images join ``ids``."""
    table = BoxTable("id", None)
    for im in data["images"]:
        ids.add(im["file_name"], im["id"])
        table.rows[int(im["id"])] = []  # every listed image is known, with or without people
    for ann in data["annotations"]:
        box = _gt_box(ann)
        if box is not None:
            table.add(int(ann["image_id"]), box, 1.0)
    return [table]


def gt_pt17(data: dict) -> list[BoxTable]:
    """PoseTrack 2017 ``annolist``: boxes by (sequence folder, image name) from the extent of the joints."""
    tables: dict[str, BoxTable] = {}
    for frame in data["annolist"]:
        image = frame["image"][0] if isinstance(frame["image"], list) else frame["image"]
        p = PurePosixPath(str(image["name"]))
        table = tables.setdefault(p.parent.name, BoxTable("name", p.parent.name))
        table.rows[p.name] = []
        for rect in frame.get("annorect") or []:
            points = (rect.get("annopoints") or [{}])[0].get("point") or []
            xy = np.array([[_scalar(pt["x"]), _scalar(pt["y"])] for pt in points], np.float64).reshape(-1, 2)
            box = _extent(xy)
            if box is not None:
                table.add(p.name, box, 1.0)
    return list(tables.values())


def _scalar(value) -> float:
    return float(value[0] if isinstance(value, list) else value)

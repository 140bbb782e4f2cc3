"""Read PoseTrack 2017 (``annolist``) and 2018 (COCO-like) files into one form, exactly as ``poseval`` sees them.

Facts reproduced from the official evaluator (POSETRACK_EVAL.md; poseval ``eval_helpers.load_data_dir``,
``cleanupData``, ``removeIgnoredPoints`` and ``convert.py``, HEAD 4258a15):
- one JSON per sequence; the prediction file has the GT file's base name; frames are matched by position;
- PT18 files are read through the PT17 conversion: joints found by the category's keypoint names (``head_bottom`` ->
  neck, ears dropped), a joint written as ``x == y == v == 0`` is "not there", ``scores`` give the joint scores;
- track ids must be < 10000 and unique within a prediction frame;
- GT frames with no ``annorect`` are dropped with their prediction frames, then people without a point list;
- in frames with GT ignore regions, points strictly inside a region are removed and people left without points go.
Deviations (documented): files are read in sorted order (poseval uses unsorted ``glob``); a PT18 file without
``categories`` is read with the standard PT18 keypoint names; degenerate ignore polygons (< 3 points) are skipped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posetrack_cli.errors import InputError, one_line
from posetrack_cli.records import MAX_TRACK_ID, PT18_COCO_ORDER, PT18_JOINT_NAMES

log = logging.getLogger(__name__)

NUM_JOINTS = 15  # PT17 joint ids 0..14 (POSETRACK_EVAL.md)
MIN_SCORE = -9999.0  # poseval eval_helpers.MIN_SCORE: score of a predicted joint that has none

@dataclass
class Person:
    """One annotated or predicted person as poseval's PT17 dict would hold it."""

    track_id: int | None
    point_ids: np.ndarray  # (P,) int64 joint id of each written point (-1 when the id is missing)
    xy: np.ndarray  # (P, 2) float64
    scores: np.ndarray  # (P,) float64, NaN where the point has no score
    head_box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 (GT head rectangle)
    has_point_list: bool = True  # poseval ``rectHasPoints``

    def joints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(has (15,) bool, xy (15, 2), score (15,)): the first point written for each joint id (poseval
        ``getPointGTbyID``); a missing score becomes ``MIN_SCORE``."""
        has = np.zeros(NUM_JOINTS, bool)
        xy = np.zeros((NUM_JOINTS, 2))
        score = np.full(NUM_JOINTS, np.nan)
        for k in range(len(self.point_ids) - 1, -1, -1):  # reversed: the first occurrence is written last
            j = int(self.point_ids[k])
            if 0 <= j < NUM_JOINTS:
                has[j], xy[j] = True, self.xy[k]
                score[j] = MIN_SCORE if np.isnan(self.scores[k]) else self.scores[k]
        return has, xy, score

    def keep_points(self, keep: np.ndarray) -> None:
        self.point_ids, self.xy, self.scores = self.point_ids[keep], self.xy[keep], self.scores[keep]


@dataclass
class Frame:
    name: str
    people: list[Person]
    ignore_regions: list[np.ndarray] = field(default_factory=list)  # polygons (V, 2)


@dataclass
class Sequence:
    """One GT file and its prediction, after poseval's clean-up: labelled frames only, matched by position."""

    name: str
    gt: list[Frame]
    pred: list[Frame]


def _one(value):
    """PT17 wraps every scalar in a one-element list; accept the bare scalar too."""
    return value[0] if isinstance(value, (list, tuple)) else value


def _person(track_id, points: list[tuple], head_box, has_point_list: bool) -> Person:
    ids = np.array([p[0] for p in points], np.int64).reshape(-1)
    xy = np.array([p[1:3] for p in points], np.float64).reshape(-1, 2)
    scores = np.array([np.nan if p[3] is None else p[3] for p in points], np.float64).reshape(-1)
    tid = None if track_id is None else int(track_id)
    return Person(tid, ids, xy, scores, head_box, has_point_list)


def _pt17_person(rect: dict) -> Person:
    annopoints = rect.get("annopoints")
    has_list = bool(annopoints) and len(annopoints[0]) > 0 and "point" in annopoints[0]
    points = []
    for p in (annopoints[0]["point"] or []) if has_list else []:
        pid = _one(p.get("id"))
        points.append((-1 if pid is None else int(pid), float(_one(p["x"])), float(_one(p["y"])),
                       None if p.get("score") is None else float(_one(p["score"]))))
    head = None
    if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        head = tuple(float(_one(rect[k])) for k in ("x1", "y1", "x2", "y2"))
    return _person(_one(rect["track_id"]) if "track_id" in rect else None, points, head, has_list)


def _pt17_regions(frame: dict) -> list[np.ndarray]:
    return [np.array([[float(_one(p["x"])), float(_one(p["y"]))] for p in region.get("point", [])]).reshape(-1, 2)
            for region in frame.get("ignore_regions") or []]


def frames_from_pt17(data: dict) -> list[Frame]:
    frames = []
    for f in data["annolist"]:
        image = f.get("image") or [{}]
        frames.append(Frame(str(_one(image).get("name", "")), [_pt17_person(r) for r in f.get("annorect") or []],
                            _pt17_regions(f)))
    return frames


def _conversion_table(data: dict, path: Path) -> list[int | None]:
    """Keypoint slot -> PT17 joint id by name (poseval ``Video.from_new``)."""
    cats = data.get("categories")
    names = list(cats[0].get("keypoints", [])) if cats else list(PT18_COCO_ORDER)
    table = [PT18_JOINT_NAMES.index(n) if n in PT18_JOINT_NAMES else None for n in names]
    missing = [n for j, n in enumerate(PT18_JOINT_NAMES) if j not in table]
    if len(names) not in (15, 17) or missing:
        raise InputError(f"{path}: PoseTrack18 category keypoints must name the 15 PoseTrack joints "
                         f"(missing {', '.join(missing) or 'none'}; {len(names)} names)")
    return table


def _pt18_person(ann: dict, table: list[int | None]) -> Person:
    kps = np.asarray(ann.get("keypoints") or np.zeros(3 * len(table)), np.float64).reshape(len(table), 3)
    scores = ann.get("scores") or None  # poseval: ``if landmark_scores:``
    points = []
    for slot, joint in enumerate(table):
        x, y, v = kps[slot]
        if joint is None or (x == 0 and y == 0 and v == 0):  # convert.py Person.to_old: unannotated
            continue
        points.append((joint, x, y, None if scores is None else float(scores[slot])))
    head = None
    if ann.get("bbox_head"):
        x, y, w, h = (float(v) for v in ann["bbox_head"])
        head = (x, y, x + w, y + h)
    return _person(ann.get("track_id"), points, head, True)


def frames_from_pt18(data: dict, path: Path) -> list[Frame]:
    """Frames of the file's first video (poseval keeps ``convert_videos(data)[0]``), in ``images`` order."""
    table = _conversion_table(data, path)
    by_image: dict = {}
    for ann in data.get("annotations") or []:
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    images = data["images"]
    video = [os.path.basename(os.path.dirname(im.get("file_name", ""))).split("_")[0] for im in images]
    if len(set(video)) > 1:
        log.warning("%s holds %d videos; only the first (%s) is evaluated, as poseval does",
                    path, len(set(video)), video[0])
    frames = []
    for im, vid in zip(images, video):
        if vid != video[0]:
            continue
        regions = [np.array([xs, ys], np.float64).T.reshape(-1, 2)
                   for xs, ys in zip(im.get("ignore_regions_x") or [], im.get("ignore_regions_y") or [])]
        people = [_pt18_person(a, table) for a in by_image.get(im.get("id"), [])]
        frames.append(Frame(str(im.get("file_name", "")), people, regions))
    return frames


def read_posetrack(path: str | os.PathLike) -> list[Frame]:
    """One PoseTrack file, PT17 or PT18 (auto-detected, as poseval: ``annolist`` present -> 2017)."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict) and "annolist" in data:
            return frames_from_pt17(data)
        if isinstance(data, dict) and "images" in data:
            return frames_from_pt18(data, p)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputError(f"{p}: not a readable PoseTrack file ({one_line(exc)})") from None
    raise InputError(f"{p}: neither PoseTrack 2017 ('annolist') nor 2018 ('images') format")


def _check_track_ids(frames: list[Frame], path: Path, prediction: bool) -> None:
    for k, frame in enumerate(frames):
        ids = [p.track_id for p in frame.people if p.track_id is not None]
        if any(t >= MAX_TRACK_ID for t in ids):
            raise InputError(f"{path}: frame {k} has a track id >= {MAX_TRACK_ID}; PoseTrack ids are 0..9999")
        if prediction and len(set(ids)) != len(ids):
            raise InputError(f"{path}: non-unique track ids in frame {k} ({frame.name})")


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Points strictly inside a polygon (shapely ``Polygon.contains``: the boundary is outside), even-odd rule."""
    x, y = points[:, 0:1], points[:, 1:2]
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    crosses = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = ax + (y - ay) * (bx - ax) / (by - ay)
    inside = (crosses & (x < x_at)).sum(1) % 2 == 1
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    on_edge = (cross == 0) & (np.minimum(ax, bx) <= x) & (x <= np.maximum(ax, bx)) \
        & (np.minimum(ay, by) <= y) & (y <= np.maximum(ay, by))
    return inside & ~on_edge.any(1)


def _remove_ignored(people: list[Person], regions: list[np.ndarray]) -> list[Person]:
    """poseval ``removeIgnoredPointsRects``: drop points inside a region, then people left without points."""
    kept = []
    for person in people:
        ignored = np.zeros(len(person.xy), bool)
        for polygon in regions:
            ignored |= _inside(person.xy, polygon)
        person.keep_points(~ignored)
        if len(person.point_ids):
            kept.append(person)
    return kept


def clean_sequence(gt: list[Frame], pred: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    """poseval ``cleanupData`` + ``removeIgnoredPoints`` on one sequence (frames already paired by position)."""
    pairs = [(g, p) for g, p in zip(gt, pred) if len(g.people) > 0]
    for g, p in pairs:
        g.people = [r for r in g.people if r.has_point_list]
        p.people = [r for r in p.people if r.has_point_list]
        regions = [r for r in g.ignore_regions if len(r) >= 3]
        if g.ignore_regions:
            g.people, p.people = _remove_ignored(g.people, regions), _remove_ignored(p.people, regions)
    return [g for g, _ in pairs], [p for _, p in pairs]


PREDICTION_SUFFIXES = (".posetrack18.json", ".posetrack17.json", ".json")  # posetrack run's exports, then poseval's
# own layout (the ground truth's file name): a run's output folder can be passed as it is


def prediction_file(pred_root: Path, gt_path: Path) -> Path | None:
    """The prediction of ``gt_path`` in ``pred_root`` (``<sequence>.posetrack18.json`` first), None when missing."""
    stem = gt_path.name.removesuffix(".json")
    return next((p for p in (pred_root / f"{stem}{s}" for s in PREDICTION_SUFFIXES) if p.is_file()), None)


def load_sequences(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike,
                   only_covered: bool = False) -> tuple[list[Sequence], int]:
    """Every ``*.json`` of ``gt_dir`` with its prediction in ``pred_dir`` (``prediction_file``), cleaned as poseval
    does, and the number of ground-truth files. A ground-truth file without a prediction is an error, as in poseval,
    unless ``only_covered`` (a ``--limit`` run), which leaves it out."""
    gt_root, pred_root = Path(gt_dir), Path(pred_dir)
    for root, what in ((gt_root, "ground-truth"), (pred_root, "prediction")):
        if not root.is_dir():
            raise InputError(f"{root}: {what} folder not found; give a folder of per-sequence PoseTrack JSON files")
    gt_files = sorted(gt_root.glob("*.json"))
    if not gt_files:
        raise InputError(f"{gt_root}: no *.json ground-truth files")
    sequences = []
    for gt_path in gt_files:
        pred_path = prediction_file(pred_root, gt_path)
        if pred_path is None and only_covered:
            continue
        if pred_path is None:
            raise InputError(f"no prediction for {gt_path.name} in {pred_root} (looked for "
                             f"{', '.join(gt_path.name.removesuffix('.json') + s for s in PREDICTION_SUFFIXES)}); "
                             "--only-covered evaluates only the sequences that have one")
        gt, pred = read_posetrack(gt_path), read_posetrack(pred_path)
        if len(gt) != len(pred):
            raise InputError(f"{pred_path}: {len(pred)} prediction frames <> {len(gt)} ground-truth frames; "
                             "write one entry per ground-truth frame, in order")
        _check_track_ids(gt, gt_path, prediction=False)
        _check_track_ids(pred, pred_path, prediction=True)
        gt, pred = clean_sequence(gt, pred)
        sequences.append(Sequence(gt_path.name.split(".")[0], gt, pred))
    if not sequences:
        raise InputError(f"{pred_root}: no prediction for any ground-truth file of {gt_root}")
    return sequences, len(gt_files)

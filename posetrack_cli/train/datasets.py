"""Readers for the published annotation formats, converted once into one struct-of-arrays record (``PersonSet``).

- COCO person keypoints JSON (``person_keypoints_*.json``): crowd and keypoint-less people are skipped, boxes are
  clipped to the image as the top-down code bases do (HRNet / Simple Baselines ``_load_coco_keypoint_annotation``).
- MPII in the JSON layout of the public top-down code bases (HRNet, MMPose ``mpii_{train,val}.json``): a list of
  ``{"image", "center", "scale", "joints", "joints_vis"}``; Matlab 1-based pixels become 0-based, the centre moves down
  by 15 x scale and ``scale`` is in 200-px units (both as HRNet/MMPose). An optional ``"headbox": [x1, y1, x2, y2]``
  (0-based, from ``mpii_gt_val.mat``) enables PCKh.
- PoseTrack 2018 JSON (one file per sequence, or a folder of them): labelled frames only; the 17 COCO-like slots are
  reordered to the 15 PoseTrack joints (slots 1/2 hold head_bottom/head_top, the ears are empty).

Visibility is kept as written: 0 = not annotated; COCO 1 = annotated but occluded, 2 = visible; MPII/PoseTrack 1 =
annotated. Training masks use ``visibility > 0`` (see losses.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posetrack_cli.errors import InputError, one_line
from posetrack_cli.io.files import read_json
from posetrack_cli.records import COCO17, MPII16, POSETRACK15, PT18_SLOTS, Skeleton

log = logging.getLogger(__name__)

MPII_PIXEL_STD = 200.0  # MPII "scale" unit: person height / 200 px (MPII annotation; HRNet/MMPose pixel_std)
MPII_CENTER_SHIFT = 15.0  # HRNet/MMPose move the MPII centre 15 x scale px down "to avoid cropping limbs"


@dataclass(frozen=True)
class PersonSet:
    """The annotated people of one dataset (struct of arrays; the skeleton travels with the data)."""

    skeleton: Skeleton
    image_paths: tuple[str, ...]  # one per image
    image_index: np.ndarray  # (N,) int64: row of image_paths each person is in
    image_ids: np.ndarray  # (N,) int64: image id in the source file (COCO/PoseTrack id, MPII running index)
    ann_ids: np.ndarray  # (N,) int64: annotation id in the source file (COCO/PoseTrack "id", MPII list position)
    boxes_xyxy: np.ndarray  # (N, 4) float32 frame pixels: the box the crop is built around (before padding)
    keypoints: np.ndarray  # (N, K, 3) float32: x, y frame pixels (0-based), visibility as written (0 = none)
    head_boxes_xyxy: np.ndarray  # (N, 4) float32: head box for PCKh / PoseTrack mAP; NaN where unknown

    def __post_init__(self) -> None:
        n, k = len(self.image_index), self.skeleton.num_keypoints
        checks = ((self.image_ids, (n,)), (self.ann_ids, (n,)), (self.boxes_xyxy, (n, 4)), (self.keypoints, (n, k, 3)),
                  (self.head_boxes_xyxy, (n, 4)))
        for array, shape in checks:
            if np.shape(array) != shape:
                raise ValueError(f"PersonSet: expected shape {shape}, got {np.shape(array)}")

    def __len__(self) -> int:
        return len(self.image_index)

    def image_path(self, i: int) -> str:
        return self.image_paths[int(self.image_index[i])]


def _person_set(skeleton: Skeleton, paths: list[str], rows: list[tuple]) -> PersonSet:
    """rows: (image_index, image_id, ann_id, box_xyxy, keypoints (K, 3), head_box_xyxy or None)."""
    k = skeleton.num_keypoints
    nan4 = [np.nan] * 4
    return PersonSet(
        skeleton=skeleton,
        image_paths=tuple(paths),
        image_index=np.array([r[0] for r in rows], np.int64).reshape(-1),
        image_ids=np.array([r[1] for r in rows], np.int64).reshape(-1),
        ann_ids=np.array([r[2] for r in rows], np.int64).reshape(-1),
        boxes_xyxy=np.array([r[3] for r in rows], np.float32).reshape(-1, 4),
        keypoints=np.array([r[4] for r in rows], np.float32).reshape(-1, k, 3),
        head_boxes_xyxy=np.array([nan4 if r[5] is None else r[5] for r in rows], np.float32).reshape(-1, 4),
    )


def skeleton_from_coco_category(category: dict) -> Skeleton:
    """COCO17 for the standard person category; otherwise a skeleton built from the category's own keypoint names
    (left/right pairs by name, COCO sigmas by name else 0.05, links from the 1-based ``skeleton`` field)."""
    names = tuple(category.get("keypoints") or ())
    if names == COCO17.keypoints:
        return COCO17
    if not names:
        raise InputError(f"COCO category {category.get('name')!r} lists no keypoints")
    index = {n: i for i, n in enumerate(names)}
    pairs = tuple((i, index["right" + n[4:]]) for i, n in enumerate(names)
                  if n.startswith("left") and "right" + n[4:] in index)
    coco_sigma = dict(zip(COCO17.keypoints, COCO17.sigmas))
    k = len(names)
    links = tuple((a - 1, b - 1) for a, b in category.get("skeleton") or () if 0 < a <= k and 0 < b <= k)
    return Skeleton(name=str(category.get("name", "custom")), keypoints=names, flip_pairs=pairs,
                    sigmas=tuple(coco_sigma.get(n, 0.05) for n in names), links=links)


def read_coco(annotations: str | Path, images: str | Path) -> PersonSet:
    """COCO person keypoints JSON -> PersonSet (crowds and people without annotated keypoints skipped)."""
    doc = read_json(annotations, "annotation file")
    try:
        cats = [c for c in doc["categories"] if c.get("keypoints")]
        skeleton = skeleton_from_coco_category(cats[0])
        cat_ids = {c["id"] for c in cats}
        imgs = {im["id"]: im for im in doc["images"]}
        order = {im_id: i for i, im_id in enumerate(imgs)}
        rows = []
        for ann in doc["annotations"]:
            if ann.get("iscrowd", 0) or ann.get("category_id") not in cat_ids:
                continue
            kps = np.asarray(ann.get("keypoints") or [0] * 3 * skeleton.num_keypoints, np.float32).reshape(-1, 3)
            if kps.shape[0] != skeleton.num_keypoints or not (kps[:, 2] > 0).any():
                continue
            im = imgs[ann["image_id"]]
            box = _clean_coco_box(ann["bbox"], im.get("width"), im.get("height"))
            if box is not None:
                rows.append((order[im["id"]], im["id"], ann.get("id", len(rows)), box, kps, None))
        paths = [str(Path(images) / im["file_name"]) for im in imgs.values()]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(f"{annotations}: not a COCO person-keypoints file ({one_line(exc)})") from None
    log.info("%s: %d people in %d images (COCO)", annotations, len(rows), len(paths))
    return _person_set(skeleton, paths, rows)


def _clean_coco_box(bbox, width, height):
    """COCO [x, y, w, h] -> xyxy clipped to the image (HRNet's rule); None when nothing is left."""
    x, y, w, h = (float(v) for v in bbox)
    width = float(width) if width else np.inf
    height = float(height) if height else np.inf
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1, x1 + max(0.0, w - 1)), min(height - 1, y1 + max(0.0, h - 1))
    if w * h <= 0 or x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2, y2]


def read_mpii(annotations: str | Path, images: str | Path) -> PersonSet:
    """MPII JSON (HRNet/MMPose layout) -> PersonSet in 0-based frame pixels, square boxes of 200 x scale px."""
    doc = read_json(annotations, "annotation file")
    paths: list[str] = []
    index: dict[str, int] = {}
    rows = []
    try:
        for position, ann in enumerate(doc):
            scale = float(ann["scale"])
            center = np.asarray(ann["center"], np.float64)
            if center[0] != -1:  # HRNet/MMPose: -1 marks a missing centre, left unchanged
                center[1] += MPII_CENTER_SHIFT * scale
            center -= 1.0  # Matlab 1-based -> 0-based
            joints = np.asarray(ann["joints"], np.float32).reshape(-1, 2) - 1.0
            vis = np.asarray(ann["joints_vis"], np.float32).reshape(-1)
            if len(joints) != MPII16.num_keypoints or len(vis) != MPII16.num_keypoints:
                raise ValueError(f"{len(joints)} joints, expected 16")
            if not (vis > 0).any():
                continue
            half = MPII_PIXEL_STD * scale / 2.0
            box = [center[0] - half, center[1] - half, center[0] + half, center[1] + half]
            name = ann["image"]
            if name not in index:
                index[name] = len(paths)
                paths.append(str(Path(images) / name))
            rows.append((index[name], index[name], position, box, np.column_stack([joints, vis]),
                         ann.get("headbox")))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{annotations}: not an MPII JSON annotation list ({one_line(exc)})") from None
    log.info("%s: %d people in %d images (MPII)", annotations, len(rows), len(paths))
    return _person_set(MPII16, paths, rows)


def read_posetrack18(annotations: str | Path, images: str | Path) -> PersonSet:
    """PoseTrack 2018 JSON (one sequence file, or a folder of them) -> PersonSet with the 15 PoseTrack joints."""
    source = Path(annotations)
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    if not files:
        raise InputError(f"{source}: no PoseTrack 2018 .json files in this folder")
    paths: list[str] = []
    rows = []
    for file in files:
        doc = read_json(file, "annotation file")
        try:
            labelled = {im["id"]: im for im in doc["images"] if im.get("is_labeled", True)}
            order = {}
            for im_id, im in labelled.items():
                order[im_id] = len(paths)
                paths.append(str(Path(images) / im["file_name"]))
            for ann in doc["annotations"]:
                if ann["image_id"] not in labelled or not ann.get("keypoints"):
                    continue
                kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)[list(PT18_SLOTS)]
                if not (kps[:, 2] > 0).any():
                    continue
                box = _posetrack_box(ann.get("bbox"), kps)
                head = ann.get("bbox_head")
                head = None if not head else [head[0], head[1], head[0] + head[2], head[1] + head[3]]
                rows.append((order[ann["image_id"]], ann["image_id"], ann.get("id", len(rows)), box, kps, head))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{file}: not a PoseTrack 2018 annotation file ({one_line(exc)})") from None
    log.info("%s: %d people in %d labelled frames (PoseTrack 2018)", source, len(rows), len(paths))
    return _person_set(POSETRACK15, paths, rows)


def _posetrack_box(bbox, kps: np.ndarray) -> list[float]:
    """The annotated [x, y, w, h] box when present and non-empty, else the extent of the annotated joints."""
    if bbox and bbox[2] > 1 and bbox[3] > 1:
        return [bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]]
    pts = kps[kps[:, 2] > 0, :2]
    return [*pts.min(0).tolist(), *pts.max(0).tolist()]


READERS = {"coco": read_coco, "mpii": read_mpii, "posetrack18": read_posetrack18}


def read_dataset(fmt: str, annotations: str | Path, images: str | Path) -> PersonSet:
    if fmt not in READERS:
        raise InputError(f"unknown annotation format {fmt!r}; use one of {', '.join(READERS)}")
    return READERS[fmt](annotations, images)

"""Tiny datasets in the real published formats, written inside the tests (imported by tests/train/test_*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from posetrack_cli.records import COCO17


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread while a test runs: on 2 shared cores, OpenMP threads spinning against other processes
    made these tests 5-10x slower. Imported by the modules that run networks; the setting is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# One standing person in a 160x120 image, COCO-17 order (x, y, v).
COCO_PERSON = np.array([
    [80, 20, 2], [84, 17, 2], [76, 17, 2], [88, 19, 1], [72, 19, 2],
    [92, 35, 2], [68, 35, 2], [96, 52, 2], [64, 52, 2], [98, 68, 2], [62, 68, 2],
    [88, 70, 2], [72, 70, 2], [89, 90, 2], [71, 90, 2], [90, 110, 2], [70, 110, 0],
], np.float32)


def person_image(path: Path, keypoints: np.ndarray, size=(160, 120), seed: int = 0) -> Path:
    """A textured background with a bright dot at every annotated keypoint (so crops have content)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(40, 90, (size[1], size[0], 3), dtype=np.uint8)
    for x, y, v in keypoints:
        if v > 0:
            cv2.circle(img, (int(round(x)), int(round(y))), 2, (255, 255, 255), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def write_coco(root: Path, people: list[np.ndarray] | None = None) -> tuple[Path, Path]:
    """A COCO person-keypoints file with one image per person plus a crowd and an unannotated person."""
    people = people if people is not None else [COCO_PERSON, COCO_PERSON + [[3, 2, 0]] * 17]
    images, anns = [], []
    for i, kps in enumerate(people):
        name = f"{i:012d}.jpg"
        person_image(root / "images" / name, kps, seed=i)
        images.append({"id": 100 + i, "file_name": name, "width": 160, "height": 120})
        xs, ys = kps[kps[:, 2] > 0, 0], kps[kps[:, 2] > 0, 1]
        bbox = [float(xs.min() - 5), float(ys.min() - 5), float(np.ptp(xs) + 10), float(np.ptp(ys) + 10)]
        anns.append({"id": 1000 + i, "image_id": 100 + i, "category_id": 1, "iscrowd": 0, "bbox": bbox,
                     "area": bbox[2] * bbox[3], "num_keypoints": int((kps[:, 2] > 0).sum()),
                     "keypoints": kps.reshape(-1).tolist()})
    anns.append({"id": 2000, "image_id": 100, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 50, 50],
                 "area": 2500, "num_keypoints": 0, "keypoints": [0] * 51})
    anns.append({"id": 2001, "image_id": 100, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 20, 40],
                 "area": 800, "num_keypoints": 0, "keypoints": [0] * 51})
    doc = {"images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
                           "skeleton": [[16, 14], [14, 12]]}]}
    path = root / "person_keypoints.json"
    path.write_text(json.dumps(doc))
    return path, root / "images"


def coco_to_mpii(kps: np.ndarray) -> np.ndarray:
    """COCO-17 -> MPII-16 (x, y, vis); pelvis/thorax as midpoints, neck/head_top above the nose."""
    c = kps
    mid = lambda a, b: (c[a, :2] + c[b, :2]) / 2  # noqa: E731
    pts = [c[16, :2], c[14, :2], c[12, :2], c[11, :2], c[13, :2], c[15, :2], mid(11, 12), mid(5, 6),
           c[0, :2] + [0, 6], c[0, :2] - [0, 8], c[10, :2], c[8, :2], c[6, :2], c[5, :2], c[7, :2], c[9, :2]]
    vis = [1] * 16
    vis[0] = 0
    return np.column_stack([np.array(pts, np.float32), np.array(vis, np.float32)])


def write_mpii(root: Path) -> tuple[Path, Path]:
    """The HRNet/MMPose MPII JSON layout (1-based Matlab pixels), two people, with head boxes."""
    entries = []
    for i in range(2):
        kps = coco_to_mpii(COCO_PERSON + [[2 * i, 0, 0]] * 17)
        name = f"mpii_{i:04d}.jpg"
        person_image(root / "images" / name, kps, seed=10 + i)
        head = kps[9, :2]
        entries.append({"image": name, "center": [80.0 + 1, 60.0 + 1 - 15 * 0.5], "scale": 0.5,
                        "joints": (kps[:, :2] + 1).tolist(), "joints_vis": kps[:, 2].astype(int).tolist(),
                        "headbox": [float(head[0] - 6), float(head[1]), float(head[0] + 6), float(head[1] + 12)]})
    path = root / "mpii_train.json"
    path.write_text(json.dumps(entries))
    return path, root / "images"


PT15_FROM_COCO = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)  # COCO index of PoseTrack joints 0..11


def write_posetrack18(root: Path, sequence: str = "000001_mpii_train") -> tuple[Path, Path]:
    """One PoseTrack 2018 sequence file: three frames (two labelled), one person per labelled frame."""
    images, anns = [], []
    for f in range(3):
        name = f"images/train/{sequence}/{f:06d}.jpg"
        kps17 = np.zeros((17, 3), np.float32)
        base = COCO_PERSON + [[f, 0, 0]] * 17
        kps17[5:] = base[5:]
        kps17[5:, 2] = 1
        kps17[0] = [base[0, 0], base[0, 1], 1]  # nose
        kps17[1] = [base[0, 0], base[0, 1] + 8, 1]  # head_bottom
        kps17[2] = [base[0, 0], base[0, 1] - 10, 1]  # head_top
        person_image(root / name, kps17, seed=20 + f)
        image_id = 10000010000 + f
        images.append({"id": image_id, "file_name": name, "frame_id": image_id, "vid_id": "000001",
                       "nframes": 3, "is_labeled": f != 1, "has_no_densepose": True,
                       "ignore_regions_x": [], "ignore_regions_y": []})
        if f != 1:
            anns.append({"id": 20000 + f, "image_id": image_id, "track_id": 0, "category_id": 1,
                         "keypoints": kps17.reshape(-1).tolist(), "bbox": [55.0, 2.0, 50.0, 115.0],
                         "bbox_head": [70.0, 8.0, 20.0, 20.0], "scores": []})
    names = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle"]
    doc = {"images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": names,
                           "skeleton": []}]}
    folder = root / "annotations"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sequence}.json"
    path.write_text(json.dumps(doc))
    return path, root

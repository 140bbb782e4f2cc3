"""Regenerate the tiny training set of examples/train/tiny.yaml from examples/vtest.avi, offline.

Every ``--step``-th frame of the clip is saved as a JPEG, and the people in it are labelled with the bundled
YOLO11n-pose (weights/yolo11n-pose.pt) exactly as ``posetrack run --detectors yolo --pose yolo-crop`` finds them:
the ``yolo`` detector's boxes, then the ``yolo-crop`` estimator's keypoints. These are machine pseudo-labels, not
human annotations (examples/train/PROVENANCE.md). A keypoint is labelled (visibility 2) when its score reaches
``--min-keypoint-score``; a person is kept when the box is at least ``--min-height`` px tall and enough keypoints are
labelled. The result is a COCO person-keypoints JSON, the format ``posetrack train`` reads (``format: coco``).

    python examples/train/make_tiny_dataset.py            # rewrites examples/train/tiny_vtest/

Runs on the CPU in about a minute.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from posetrack_cli.config import PoseConfig
from posetrack_cli.detect.yolo import YoloDetector
from posetrack_cli.pose.yolo_crop import YoloCropEstimator
from posetrack_cli.records import COCO17, Poses
from posetrack_cli.video import iter_frames, probe

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "examples" / "vtest.avi"
YOLO_WEIGHTS = ROOT / "weights" / "yolo11n-pose.pt"
OUT = Path(__file__).resolve().parent / "tiny_vtest"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help="output folder (frames/ and person_keypoints.json)")
    p.add_argument("--step", type=int, default=50, help="keep every N-th frame of the clip (795 frames)")
    p.add_argument("--min-box-score", type=float, default=0.5, help="YOLO person box confidence")
    p.add_argument("--min-keypoint-score", type=float, default=0.5, help="a keypoint is labelled at this score")
    p.add_argument("--min-keypoints", type=int, default=10, help="labelled keypoints a kept person needs")
    p.add_argument("--min-height", type=float, default=64.0, help="box height in pixels a kept person needs")
    p.add_argument("--jpeg-quality", type=int, default=85)
    return p.parse_args()


def coco_people(poses: Poses, args: argparse.Namespace) -> list[dict]:
    """The kept people of one frame as COCO annotation fields (bbox xywh, keypoints x, y, v with v = 0 or 2)."""
    out = []
    for box, kps in zip(poses.boxes_xyxy, poses.keypoints):
        labelled = kps[:, 2] >= args.min_keypoint_score
        height = float(box[3] - box[1])
        if height < args.min_height or labelled.sum() < args.min_keypoints:
            continue
        xyv = np.zeros((len(kps), 3), np.float64)
        xyv[labelled, :2] = np.round(kps[labelled, :2], 1)
        xyv[labelled, 2] = 2
        bbox = [round(float(box[0]), 1), round(float(box[1]), 1), round(float(box[2] - box[0]), 1), round(height, 1)]
        out.append({"bbox": bbox, "area": round(bbox[2] * bbox[3], 1), "num_keypoints": int(labelled.sum()),
                    "keypoints": xyv.reshape(-1).tolist()})
    return out


def main() -> None:
    args = parse_args()
    info = probe(CLIP)
    detector = YoloDetector(YOLO_WEIGHTS, "cpu", imgsz=960, min_score=args.min_box_score)
    estimator = YoloCropEstimator(YOLO_WEIGHTS, PoseConfig(model="yolo-crop"), "cpu")
    frames_dir = args.out / "frames"
    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    frames_dir.mkdir(parents=True)
    images, annotations = [], []
    for index, frame in iter_frames(info):
        if index % args.step:
            continue
        (poses,) = estimator.estimate([frame], detector.detect([frame]))
        people = coco_people(poses, args)
        if not people:
            continue
        name = f"vtest_{index:04d}.jpg"
        cv2.imwrite(str(frames_dir / name), frame, [cv2.IMWRITE_JPEG_QUALITY, args.jpeg_quality])
        images.append({"id": index, "file_name": name, "width": info.width, "height": info.height})
        for person in people:
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": 1, "iscrowd": 0,
                                **person})
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in COCO17.links]}
    doc = {"info": {"description": "examples/vtest.avi frames, YOLO11n-pose pseudo-labels "
                                   "(examples/train/PROVENANCE.md)"},
           "images": images, "annotations": annotations, "categories": [category]}
    (args.out / "person_keypoints.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(annotations)} people in {len(images)} frames -> {args.out}")


if __name__ == "__main__":
    main()

"""SSDLite boxes of the old path (OpenCV 4 ``cv2.dnn`` on the TensorFlow graph) against the new one (the ONNX graph on
ONNX Runtime, decoding and NMS in numpy) on every frame of the bundled clip; and the new graph's forward on ONNX
Runtime against ``cv2.dnn.readNetFromONNX``.

The old path needs an OpenCV that still reads TensorFlow graphs (< 5) and the text graph that went with it, which
left weights/ with the switch to ONNX (it is in the history, sha256 checked below):

    python3 -m venv /tmp/cv4venv && /tmp/cv4venv/bin/pip install opencv-python==4.14.0.94 numpy
    git show 3b46760:weights/ssdlite_mobilenet_v2_person.pbtxt > /tmp/ssdlite.pbtxt
    /tmp/cv4venv/bin/python benchmarks/compare_ssdlite_paths.py old --pbtxt /tmp/ssdlite.pbtxt --out /tmp/ssd_old.npz
    PYTHONPATH=. python benchmarks/compare_ssdlite_paths.py new --old /tmp/ssd_old.npz
    PYTHONPATH=. python benchmarks/compare_ssdlite_paths.py speed [--batch 4] [--reps 20] [--threads N]

``old`` needs only OpenCV and numpy (it does not import posetrack); ``new`` and ``speed`` run in the project's
environment. Boxes are matched per frame by IoU (Hungarian, IoU >= 0.5). Results: benchmarks/RESULTS.md §7.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "vtest.avi"
PB = ROOT / "weights" / "ssdlite_mobilenet_v2_person.pb"
PBTXT_SHA256 = "e4a97600fddbd63fc7edc337223cc5972fd749c47d423243355d01411286b6d1"  # weights/MANIFEST.md until 3b46760
BATCH = 4  # PipelineConfig.frame_batch: frames per detector call in the pipeline
MIN_SCORE = 0.25  # DetectConfig.min_score


def clip_batches(batch: int = BATCH):
    """(index of the first frame, frames, md5 of each frame) per batch of the clip."""
    cap = cv2.VideoCapture(str(CLIP))
    frames, start = [], 0
    while True:
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
        if frames and (len(frames) == batch or not ok):
            yield start, frames, [hashlib.md5(f.tobytes()).hexdigest() for f in frames]
            start += len(frames)
            frames = []
        if not ok:
            cap.release()
            return


def old_detect(net, frames: list) -> list:
    """posetrack_cli/detect/ssdlite.py at 3b46760 (SsdLiteDetector.detect + parse_ssd_output), OpenCV 4."""
    blob = cv2.dnn.blobFromImages(list(frames), scalefactor=1.0, size=(300, 300), mean=(0, 0, 0), swapRB=True,
                                  crop=False)
    net.setInput(blob)
    rows = net.forward().reshape(-1, 7)
    result = []
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        mine = rows[(rows[:, 0] == i) & (rows[:, 2] >= MIN_SCORE)]
        result.append((mine[:, 3:7] * np.array([w, h, w, h], np.float32), mine[:, 2]))
    return result


def run_old(pbtxt: Path, out: Path) -> None:
    digest = hashlib.sha256(pbtxt.read_bytes()).hexdigest()
    if digest != PBTXT_SHA256:
        sys.exit(f"{pbtxt}: sha256 {digest[:12]}..., not the bundled text graph {PBTXT_SHA256[:12]}...")
    net = cv2.dnn.readNetFromTensorflow(str(PB), str(pbtxt))
    frame_ids, boxes, scores, hashes, start = [], [], [], [], time.perf_counter()
    for first, frames, md5 in clip_batches():
        for i, (b, s) in enumerate(old_detect(net, frames)):
            frame_ids.append(np.full(len(s), first + i))
            boxes.append(b)
            scores.append(s)
        hashes += md5
    seconds = time.perf_counter() - start
    np.savez(out, frame=np.concatenate(frame_ids), boxes=np.concatenate(boxes), scores=np.concatenate(scores),
             hashes=np.array(hashes), versions=f"opencv {cv2.__version__}, numpy {np.__version__}")
    print(f"old path (opencv {cv2.__version__}): {len(hashes)} frames, {sum(map(len, scores))} boxes, "
          f"{seconds:.1f} s -> {out}")


def match(old_boxes: np.ndarray, new_boxes: np.ndarray, min_iou: float = 0.5) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    from posetrack_cli.geometry import iou_matrix

    if not len(old_boxes) or not len(new_boxes):
        return []
    iou = iou_matrix(old_boxes, new_boxes)
    rows, cols = linear_sum_assignment(-iou)
    return [(r, c) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


def run_new(old_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import describe

    from posetrack_cli.config import DEFAULT_SSDLITE_GRAPH
    from posetrack_cli.zoo import resolve_path
    from posetrack_cli.detect.ssdlite import SsdLiteDetector

    old = np.load(old_path)
    detector = SsdLiteDetector(resolve_path(None, DEFAULT_SSDLITE_GRAPH), min_score=MIN_SCORE)
    matched = unmatched_old = unmatched_new = same_frames = n_new = 0
    corner, score = 0.0, 0.0
    for first, frames, md5 in clip_batches():
        for i, dets in enumerate(detector.detect(frames)):
            k = first + i
            same_frames += md5[i] == old["hashes"][k]
            mine = old["frame"] == k
            pairs = match(old["boxes"][mine], dets.boxes_xyxy)
            matched += len(pairs)
            unmatched_old += int(mine.sum()) - len(pairs)
            unmatched_new += len(dets) - len(pairs)
            n_new += len(dets)
            for r, c in pairs:
                corner = max(corner, float(np.abs(old["boxes"][mine][r] - dets.boxes_xyxy[c]).max()))
                score = max(score, abs(float(old["scores"][mine][r]) - float(dets.scores[c])))
    total = len(old["hashes"])
    print(describe())
    print(f"old: {old['versions']}; new: onnxruntime {_ort_version()}, opencv {cv2.__version__}")
    print(f"clip {CLIP.name}: {total} frames ({same_frames} decoded to identical pixels by both OpenCVs), "
          f"min_score {MIN_SCORE}, batches of {BATCH}")
    print(f"boxes: old {len(old['scores'])}, new {n_new}; matched {matched}, only old {unmatched_old}, "
          f"only new {unmatched_new}")
    print(f"matched boxes: max corner difference {corner:.1e} px, max score difference {score:.1e}")


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def run_speed(batch: int, reps: int, threads: int | None) -> None:
    """Forward of one batch of clip frames, ONNX Runtime and cv2.dnn alternating (median and best of ``reps``), both
    with ``threads`` threads (default: PyTorch's, which the pipeline gives ONNX Runtime)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(torch.get_num_threads())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import describe

    from posetrack_cli.config import DEFAULT_SSDLITE_GRAPH
    from posetrack_cli.zoo import resolve_path
    from posetrack_cli.detect.ssdlite import SsdLiteDetector, network_input

    graph = resolve_path(None, DEFAULT_SSDLITE_GRAPH)
    _, frames, _ = next(clip_batches(batch))
    x = network_input(frames, 300)
    detector = SsdLiteDetector(graph)
    net = cv2.dnn.readNetFromONNX(str(graph))
    outputs = ["box_encodings", "class_scores"]

    def ort():
        return detector.session.run(outputs, {"images": x})

    def dnn():
        net.setInput(x, "images")
        return net.forward(outputs)

    def detect():
        return detector.detect(frames)

    diff = max(float(np.abs(a - b).max()) for a, b in zip(ort(), dnn()))
    times = {"onnxruntime": [], "cv2.dnn (readNetFromONNX)": [], "onnxruntime + decoding + NMS": []}
    for _ in range(reps):
        for name, fn in zip(times, (ort, dnn, detect)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(describe())
    print(f"onnxruntime {_ort_version()}, {torch.get_num_threads()} threads each; batch of {batch} frames "
          f"({CLIP.name}); outputs differ by at most {diff:.1e}")
    for name, t in times.items():
        print(f"{name:32s} ms/frame: median {np.median(t) / batch * 1e3:6.1f}, best {min(t) / batch * 1e3:6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    old = sub.add_parser("old", help="run the old path (OpenCV < 5) and save its boxes")
    old.add_argument("--pbtxt", type=Path, required=True)
    old.add_argument("--out", type=Path, default=Path("ssd_old.npz"))
    new = sub.add_parser("new", help="run the new path and compare with the saved old boxes")
    new.add_argument("--old", type=Path, required=True)
    speed = sub.add_parser("speed", help="ONNX Runtime against cv2.dnn.readNetFromONNX on the ONNX graph")
    speed.add_argument("--batch", type=int, default=BATCH)
    speed.add_argument("--reps", type=int, default=20)
    speed.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.command == "old":
        run_old(args.pbtxt, args.out)
    elif args.command == "new":
        run_new(args.old)
    else:
        run_speed(args.batch, args.reps, args.threads)


if __name__ == "__main__":
    main()

"""YOLO on ONNX Runtime against PyTorch on this CPU: the bundled YOLO11n-pose exported to ONNX (dynamic shapes, so the
same letterboxed sizes as PyTorch), both run through Ultralytics' predictor on the same frames of the bundled clip,
person class only; ms per frame and people found per frame at each size.

    python benchmarks/bench_yolo_onnx.py [--sizes 960,640] [--frames 20]

Needs the ``onnx`` package for the export (the ``onnx`` extra). The pipeline keeps PyTorch for YOLO unless this shows
ONNX Runtime faster (benchmarks/RESULTS.md §10).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from posetrack_cli.nets.yolo import ultralytics_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP, WEIGHTS = ROOT / "examples" / "vtest.avi", ROOT / "weights" / "yolo11n-pose.pt"


def timed(model, frames, imgsz: int, threads: int) -> tuple[float, float]:
    """(ms per frame, people per frame) over ``frames`` after one warm-up call, PyTorch at ``threads`` threads."""
    torch.set_num_threads(threads)
    kwargs = dict(imgsz=imgsz, conf=0.25, classes=[0], verbose=False, device="cpu")
    model.predict(frames[0], **kwargs)
    torch.set_num_threads(threads)  # Ultralytics lowers it at its first call
    people, start = 0, time.perf_counter()
    for frame in frames[1:]:
        people += len(model.predict(frame, **kwargs)[0].boxes)
        torch.set_num_threads(threads)
    return 1000 * (time.perf_counter() - start) / (len(frames) - 1), people / (len(frames) - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="960,640")
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()  # the process's count: Ultralytics lowers it (export, first predict)
    print(describe())
    cap = cv2.VideoCapture(str(CLIP))
    frames = [cap.read()[1] for _ in range(args.frames + 1)]
    YOLO = ultralytics_module().YOLO
    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(shutil.copy(WEIGHTS, tmp))
        onnx = YOLO(str(pt)).export(format="onnx", dynamic=True, simplify=False, opset=17, imgsz=960)
        for imgsz in [int(s) for s in args.sizes.split(",")]:
            for name, path in (("pytorch", pt), ("onnxruntime", onnx)):
                ms, people = timed(YOLO(str(path), task="pose"), frames, imgsz, threads)
                print(f"{name:12s} {imgsz:5d} px  {ms:7.1f} ms/frame  {people:.2f} people/frame", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

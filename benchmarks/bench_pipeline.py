"""Pipeline throughput on the bundled clip: frames per second and the share of each stage.

    python benchmarks/bench_pipeline.py [--frames 100] [--pose auto] [--detectors yolo,ssdlite]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig  # noqa: E402
from posetrack_cli.pipeline import build_stages, run_video  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--pose", default="auto")
    ap.add_argument("--detectors", default="yolo,ssdlite")
    ap.add_argument("--yolo-imgsz", type=int, default=960)
    ap.add_argument("--video", default=str(CLIP))
    args = ap.parse_args()
    config = PipelineConfig(detect=DetectConfig(detectors=tuple(args.detectors.split(",")),
                                                yolo_imgsz=args.yolo_imgsz),
                            pose=PoseConfig(model=args.pose), max_frames=args.frames)
    t0 = time.perf_counter()
    stages = build_stages(config)
    load = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        result = run_video(args.video, Path(tmp) / "tracks.json", stages)
    print(describe())
    print(f"clip: {args.video}, {result.frames} frames, detectors {args.detectors}, pose {stages.estimator.name}")
    print(f"model load {load:.1f} s; run {result.seconds:.1f} s -> {result.frames / result.seconds:.2f} frames/s, "
          f"{result.people} people, {result.tracks} tracks")
    total = sum(result.profile.values())
    print(f"{'stage':8s} {'seconds':>8s} {'share':>7s} {'ms/frame':>9s}")
    for stage in ("decode", "detect", "pose", "nms", "track", "write"):
        sec = result.profile.get(stage, 0.0)
        print(f"{stage:8s} {sec:8.2f} {100 * sec / total:6.1f}% {1000 * sec / max(result.frames, 1):9.1f}")


if __name__ == "__main__":
    main()

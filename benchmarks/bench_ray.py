"""Folder throughput on Ray: videos/hour with 1 and 2 local workers (and the local loop without Ray for reference).

The folder holds ``--videos`` clips of ``--frames`` frames cut from the bundled clip at different offsets (MJPG,
768x576). One local Ray instance (127.0.0.1, no dashboard) serves every run; each run starts its workers afresh,
so the wall time includes loading the models once per worker (what a real run pays). Each worker reserves one CPU
(``--cpus-per-task 1``: its torch/OpenMP threads). Needs the ray extra.

    python benchmarks/bench_ray.py [--videos 4] [--frames 20] [--workers 1,2] [--fast]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"
OFFSET = 150  # frames between the starts of two clips (the bundled clip has 795)


def make_folder(root: Path, videos: int, frames: int) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    for i in range(videos):
        cap.set(cv2.CAP_PROP_POS_FRAMES, (i * OFFSET) % max(1, total - frames))
        images = [cap.read()[1] for _ in range(frames)]
        h, w = images[0].shape[:2]
        writer = cv2.VideoWriter(str(root / f"clip{i:02d}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
        for image in images:
            writer.write(image)
        writer.release()
    cap.release()
    return root


def config(fast: bool):
    from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig

    if fast:  # the cheap settings of the CLI tests: SSDLite only, the bundled YOLO crop pose
        return PipelineConfig(DetectConfig(detectors=("ssdlite",)), PoseConfig(model="yolo-crop"), device="cpu")
    return PipelineConfig(pose=PoseConfig(model="yolo-crop"), device="cpu")  # default detectors (YOLO 960 + SSDLite)


def timed_run(folder: Path, out: Path, cfg, workers: int | None) -> tuple[float, int]:
    from posetrack_cli.runs.folder import run_batch
    from posetrack_cli.runs.ray_config import RayConfig
    from posetrack_cli.runs.ray_executor import RayExecutor

    executor = None if workers is None else RayExecutor(RayConfig(workers=workers, cpus_per_task=1.0))
    start = time.perf_counter()
    rows = run_batch(folder, out, cfg, None, resume=False, executor=executor)
    seconds = time.perf_counter() - start
    assert all(r.status == "done" for r in rows), [r.error for r in rows]
    return seconds, sum(r.frames for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts")
    parser.add_argument("--fast", action="store_true", help="SSDLite only instead of YOLO 960 + SSDLite")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ray

    print(describe())
    cfg = config(args.fast)
    print(f"{args.videos} videos x {args.frames} frames (768x576), detectors {','.join(cfg.detect.detectors)}, "
          f"pose {cfg.pose.model}")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=100 * 1024 * 1024, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "in").mkdir()
            folder = make_folder(Path(tmp) / "in", args.videos, args.frames)
            print(f"{'run':22s} {'seconds':>8s} {'frames/s':>9s} {'videos/hour':>12s}")
            runs = [("local (no Ray)", None)] + [(f"ray, {n} worker(s)", int(n)) for n in args.workers.split(",")]
            for name, workers in runs:
                seconds, frames = timed_run(folder, Path(tmp) / f"out-{workers}", cfg, workers)
                print(f"{name:22s} {seconds:8.1f} {frames / seconds:9.2f} {3600 * args.videos / seconds:12.0f}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

"""Peak memory on a long video: resident set size (RSS) sampled while a generated 3,000+ frame video is tracked.

The video is the bundled clip resized and looped (forward, backward, forward, ...), so people walk through the whole
run and new track ids keep appearing. Bounded memory means the RSS after the first few hundred frames (models
loaded, buffers warm) stays within a small margin to the end.

    python benchmarks/bench_memory.py [--frames 3200] [--size 320x240] [--detectors ssdlite] [--pose yolo-crop]
                                      [--render] [--threads 1] [--no-malloc-tuning]

Recorded (Xeon, 2 shared cores, no GPU, torch 2.14.1, opencv 5.0.0; 320x240, ssdlite + yolo-crop + DIS flow, 1 torch
thread; RSS in MB at frame 300 -> largest after it):
    3,200 frames, malloc tuning off:  1224.4 -> 1409.3 (+184.9; grows in steps to the end)
    3,200 frames, malloc tuning on:    969.1 ->  984.1 (+15.0)
    6,400 frames, malloc tuning on:    967.9 ->  985.9 (+18.1; +3 MB over the second 3,200 frames)
The growth without tuning is glibc heap fragmentation (the per-frame Python state is flat: tests/test_memory.py);
``runs.memory.limit_heap_growth`` (called by ``posetrack run``) fixes the mmap threshold and caps the arenas.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"


def make_long_video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """The bundled clip resized to ``size`` and played forward and backward until ``frames`` frames (MJPG .avi)."""
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    clip = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        clip.append(cv2.imencode(".jpg", cv2.resize(frame, size, interpolation=cv2.INTER_AREA))[1])
    cap.release()
    order = list(range(len(clip))) + list(range(len(clip) - 2, 0, -1))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for i in range(frames):
        writer.write(cv2.imdecode(clip[order[i % len(order)]], cv2.IMREAD_COLOR))
    writer.release()
    return path


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3200)
    ap.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated video")
    ap.add_argument("--detectors", default="ssdlite")
    ap.add_argument("--pose", default="yolo-crop")
    ap.add_argument("--flow", default="dis")
    ap.add_argument("--render", action="store_true", help="also write the overlay video")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: leave the other cores alone)")
    ap.add_argument("--every", type=int, default=100, help="sample RSS every N frames")
    ap.add_argument("--warmup", type=int, default=300, help="frames after which RSS must stay flat")
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="leave glibc's allocator as it is (the CLI tunes it: runs.memory.limit_heap_growth)")
    args = ap.parse_args()

    import torch

    from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig, TrackConfig
    from posetrack_cli.pipeline import build_stages, run_video
    from posetrack_cli.runs.memory import limit_heap_growth

    tuned = False if args.no_malloc_tuning else limit_heap_growth()

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    config = PipelineConfig(detect=DetectConfig(detectors=tuple(args.detectors.split(","))),
                            pose=PoseConfig(model=args.pose), track=TrackConfig(flow=args.flow))
    start_rss = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        video = make_long_video(Path(tmp) / "long.avi", args.frames, (width, height))
        stages = build_stages(config)
        loaded_rss = rss_mb()
        samples: list[tuple[int, float, float]] = []
        done, t0 = [0], time.perf_counter()

        def on_frames(n: int) -> None:
            before = done[0]
            done[0] += n
            if done[0] // args.every > before // args.every or done[0] == args.frames:
                samples.append((done[0], rss_mb(), time.perf_counter() - t0))
                print(f"{done[0]:6d} {samples[-1][1]:8.1f} MB {samples[-1][2]:8.1f} s", file=sys.stderr, flush=True)

        result = run_video(video, Path(tmp) / "out" / "long.json", stages,
                           Path(tmp) / "out" / "long.mp4" if args.render else None, on_frames=on_frames)
        end_rss = rss_mb()
    report(args, tuned, samples, result, start_rss, loaded_rss, end_rss)


def report(args, tuned: bool, samples, result, start_rss: float, loaded_rss: float, end_rss: float) -> None:
    print(describe())
    print(f"video: bundled clip looped, {args.size}, {result.frames} frames; detectors {args.detectors}, "
          f"pose {args.pose}, flow {args.flow}, render {args.render}, torch threads {args.threads}, "
          f"malloc tuning {'on' if tuned else 'off'}")
    print(f"{'frame':>6s} {'RSS MB':>8s} {'seconds':>8s}")
    for frame, rss, sec in samples:
        print(f"{frame:6d} {rss:8.1f} {sec:8.1f}")
    after = [rss for frame, rss, _ in samples if frame >= args.warmup]
    at_warmup = after[0] if after else float("nan")
    print(f"RSS: python+imports {start_rss:.0f} MB, models loaded {loaded_rss:.0f} MB, "
          f"at frame {args.warmup} {at_warmup:.1f} MB, max after it {max(after, default=float('nan')):.1f} MB "
          f"(+{max(after, default=at_warmup) - at_warmup:.1f} MB over {result.frames - args.warmup} frames), "
          f"after the final JSON{' and overlay' if args.render else ''} {end_rss:.1f} MB")
    print(f"{result.frames} frames, {result.people} people, {result.tracks} tracks in {result.seconds:.0f} s "
          f"({result.frames / result.seconds:.2f} fps)")


if __name__ == "__main__":
    main()

"""Pipeline throughput on the bundled clip: frames per second, the share of each stage and of the network forwards,
with decoding/writing overlapped (``--prefetch``) or not.

The models are loaded once; every repetition runs each prefetch depth once (order alternating) on the first
--frames frames, so that the depths are compared under the same machine load; the table gives medians.
Overhead = run time - time inside network forwards (``posetrack run --profile``'s "network forward / overhead").
With prefetch, "decode" and "write" are the times the loop waits for the reader / writer threads.

    python benchmarks/bench_pipeline.py [--frames 60] [--prefetch 0 2] [--repeats 2] [--pose auto] [--bf16]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, load  # noqa: E402

from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig  # noqa: E402
from posetrack_cli.pipeline import build_stages, run_video  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"
STAGES = ("decode", "detect", "pose", "nms", "track", "write")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--prefetch", type=int, nargs="+", default=[0, 2], help="queue depths to compare (0 = off)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pose", default="auto")
    ap.add_argument("--detectors", default="yolo,ssdlite")
    ap.add_argument("--yolo-imgsz", type=int, default=960)
    ap.add_argument("--bf16", action="store_true", help="YOLO and pose networks in bf16 (CPUs with native bf16)")
    ap.add_argument("--video", default=str(CLIP))
    args = ap.parse_args()
    print(describe(), flush=True)
    config = PipelineConfig(detect=DetectConfig(detectors=tuple(args.detectors.split(",")),
                                                yolo_imgsz=args.yolo_imgsz, bf16=args.bf16),
                            pose=PoseConfig(model=args.pose, bf16=args.bf16), max_frames=args.frames)
    t0 = time.perf_counter()
    stages = build_stages(config)
    print(f"model load {time.perf_counter() - t0:.1f} s", flush=True)
    runs = {d: [] for d in args.prefetch}
    with tempfile.TemporaryDirectory() as tmp:
        run_video(args.video, Path(tmp) / "warm.json", dataclasses.replace(stages, config=config.with_(max_frames=4)))
        for r in range(args.repeats):
            for depth in (args.prefetch if r % 2 == 0 else args.prefetch[::-1]):
                variant = dataclasses.replace(stages, config=config.with_(prefetch=depth, time_forwards=True))
                runs[depth].append(run_video(args.video, Path(tmp) / f"tracks{depth}.json", variant))
                print(f"# repeat {r + 1} prefetch {depth}: {runs[depth][-1].seconds:.1f} s, {load()}", flush=True)
    report(args, stages, runs)


def report(args, stages, runs: dict) -> None:
    first = next(iter(runs.values()))[0]
    print(f"clip: {Path(args.video).name}, {first.frames} frames, detectors {args.detectors} (yolo imgsz "
          f"{args.yolo_imgsz}), pose {stages.estimator.name}{', bf16' if args.bf16 else ''}; {first.people} people, "
          f"{first.tracks} tracks; medians of {args.repeats} repetitions; {load()} at the end")
    print("| prefetch | run s (median [min, max]) | frames/s | network forward | overhead | "
          + " | ".join(f"{s} ms/frame" for s in STAGES) + " |")
    print("|---" * (5 + len(STAGES)) + "|")
    for depth, rs in runs.items():
        secs = [r.seconds for r in rs]
        med = statistics.median(secs)
        forward = statistics.median(r.forward_seconds / r.seconds for r in rs)
        stage_ms = [1000 * statistics.median(r.profile.get(s, 0.0) for r in rs) / max(first.frames, 1) for s in STAGES]
        print(f"| {depth} | {med:.1f} [{min(secs):.1f}, {max(secs):.1f}] | {first.frames / med:.2f} | "
              f"{100 * forward:.1f}% | {100 * (1 - forward):.1f}% | " + " | ".join(f"{m:.1f}" for m in stage_ms)
              + " |")
    if len(runs) > 1:
        base = args.prefetch[0]
        for depth in args.prefetch[1:]:
            ratio = statistics.median(a.seconds / b.seconds for a, b in zip(runs[base], runs[depth]))
            print(f"speed-up of prefetch {depth} over prefetch {base} (median of per-repetition ratios): "
                  f"{ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Scaling with the number of people per frame, and peak memory against video length.

People: synthetic clips made of the bundled clip tiled 1x (768x576), 2x (1536x576, side by side) and 4x
(1536x1152, 2x2); tile k plays the clip from frame 100 k, so the tiles show different people. The YOLO input size
grows with the frame (960 x tile columns) so that people keep their pixel size (SSDLite's input is fixed at 300 px,
so it finds fewer of the now smaller people: the ensemble's own property). Close to linear in people means the time
per person stays flat (or falls) as the tiles multiply.

Memory: peak resident set size (ru_maxrss) of the default pipeline on N and 4N frames of the plain clip. (Long
videos: benchmarks/bench_memory.py samples RSS over 3,200-6,400 frames.)

Every run is a fresh process; medians over --repeats.

    python benchmarks/bench_scaling.py [--frames 30] [--repeats 3] [--fast]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"
TILES = {1: (1, 1), 2: (1, 2), 4: (2, 2)}  # tiles -> (rows, columns)
TILE_OFFSET = 100  # frames between the start of two tiles (the clip has 795)


def tiled_clip(path: Path, tiles: int, frames: int) -> Path:
    import cv2
    import numpy as np

    rows, cols = TILES[tiles]
    cap = cv2.VideoCapture(str(CLIP))
    clip = [cap.read()[1] for _ in range(frames + TILE_OFFSET * (tiles - 1))]
    cap.release()
    h, w = clip[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w * cols, h * rows))
    for i in range(frames):
        grid = [clip[i + TILE_OFFSET * k] for k in range(tiles)]
        writer.write(np.vstack([np.hstack(grid[r * cols:(r + 1) * cols]) for r in range(rows)]))
    writer.release()
    return path


def run(clip: Path, imgsz: int, fast: bool, env: dict) -> dict:
    kind = "ours-fast" if fast else "ours"
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(imgsz), "--clip", str(clip)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fast", action="store_true", help="with --bf16 (bench_peer's 'posetrack bf16')")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from bench_peer import child_ours

        print(json.dumps(child_ours(args.clip, args.child[0] == "ours-fast", int(args.child[1]))))
        return
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, YOLO_OFFLINE="1", YOLO_VERBOSE="False", YOLO_CONFIG_DIR=str(tmp / "yolo-config"))
        clips = {t: tiled_clip(tmp / f"tiles{t}.avi", t, args.frames) for t in TILES}
        runs = {t: [] for t in TILES}
        for _ in range(args.repeats):
            for t, clip in clips.items():
                runs[t].append(run(clip, 960 * TILES[t][1], args.fast, env))
                print(f"# {t} tiles: {runs[t][-1]['run_s']:.1f} s", flush=True)
        long_clip = tiled_clip(tmp / "long.avi", 1, 4 * args.frames)
        memory = {n: run(c, 960, args.fast, env)["peak_rss_mb"] for n, c in
                  ((args.frames, clips[1]), (4 * args.frames, long_clip))}
    report(args, runs, memory)


def report(args, runs: dict, memory: dict) -> None:
    print(f"{args.frames} frames per clip, {args.repeats} repetitions, pipeline "
          f"{'default + --bf16' if args.fast else 'default'}")
    print("| tiles | frame | yolo imgsz | people/frame | ms/frame | ms/person | frames/s | time per person vs 1x | "
          "overhead share | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for t, rs in runs.items():
        rows, cols = TILES[t]
        ms = 1000 * statistics.median(r["run_s"] for r in rs) / args.frames
        people = statistics.median(r["people"] for r in rs) / args.frames
        per_person = ms / max(people, 1e-9)
        base = base or per_person
        overhead = statistics.median(1 - r["forward_s"] / r["run_s"] for r in rs)
        rss = statistics.median(r["peak_rss_mb"] for r in rs)
        print(f"| {t} | {768 * cols}x{576 * rows} | {960 * cols} | {people:.1f} | {ms:.0f} | {per_person:.0f} | "
              f"{1000 / ms:.2f} | {per_person / base:.2f} | {100 * overhead:.1f}% | {rss:.0f} |")
    (n1, m1), (n2, m2) = memory.items()
    print(f"peak RSS: {m1:.0f} MB for {n1} frames, {m2:.0f} MB for {n2} frames ({m2 - m1:+.0f} MB)")


if __name__ == "__main__":
    main()

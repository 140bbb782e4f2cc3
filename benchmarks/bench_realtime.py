"""The presets on the bundled clip, in one run: frames/s of ``--preset realtime`` and ``--preset accurate`` (each a
fresh ``posetrack run`` process, model loading included, as a user runs it) and of ``yolo pose track`` at its default
640 px with the same weights; then how much of the accurate output the realtime one keeps: the share of the people-
frames of ``--preset accurate`` that realtime finds (box IoU >= 0.5, one-to-one) and the mean OKS of its poses to the
accurate ones on them (keypoints both score above 0.3).

    python benchmarks/bench_realtime.py [--frames 795] [--accurate-frames 200] [--render]

``--accurate-frames`` caps the slower accurate run (the agreement is computed on the frames both processed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, load  # noqa: E402

from posetrack_cli.geometry import box_areas, iou_matrix, oks_matrix  # noqa: E402
from posetrack_cli.records import COCO17  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "vtest.avi"
WEIGHTS = ROOT / "weights" / "yolo11n-pose.pt"
PEER = """
import sys, time
from ultralytics import YOLO
n = 0
for _ in YOLO(sys.argv[1]).track(sys.argv[2], stream=True, persist=True, imgsz=640, save=False, verbose=False):
    n += 1
    if n >= int(sys.argv[3]):
        break
print(n)
"""


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_preset(preset: str, frames: int, out: Path, render: bool) -> float:
    args = [sys.executable, "-m", "posetrack_cli", "run", str(CLIP), "--out", str(out), "--preset", preset,
            "--max-frames", str(frames), "--offline", "-q"]
    return timed(args + (["--render", str(out.with_suffix(".mp4"))] if render else []))


def people(path: Path) -> dict[int, list[dict]]:
    return {f["frame_index"]: f["people"] for f in json.loads(path.read_text())["frames"]}


def agreement(reference: dict[int, list[dict]], other: dict[int, list[dict]]) -> tuple[float, float, int]:
    """(share of reference people-frames found, mean OKS on them, reference people-frames) over shared frames."""
    found, total, oks = 0, 0, []
    for index, ref in reference.items():
        if index not in other:
            continue
        total += len(ref)
        got = other[index]
        if not ref or not got:
            continue
        a = np.array([p["box_xyxy"] for p in ref], np.float32)
        b = np.array([p["box_xyxy"] for p in got], np.float32)
        iou = iou_matrix(a, b)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= 0.5:
                found += 1
                ka = np.array([ref[r]["keypoints"]], np.float64)
                kb = np.array([got[c]["keypoints"]], np.float64)
                area = box_areas(a[r:r + 1])
                oks.append(float(oks_matrix(ka, kb, area, area, COCO17.sigmas, 0.3)[0, 0]))
    return found / max(total, 1), float(np.mean(oks)) if oks else 0.0, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=795, help="frames of the clip for realtime and the peer")
    parser.add_argument("--accurate-frames", type=int, default=200)
    parser.add_argument("--render", action="store_true", help="also write the overlay (the README's command)")
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rt = run_preset("realtime", args.frames, tmp / "rt.json", args.render)
        print(f"realtime  {args.frames} frames {rt:7.1f} s  {args.frames / rt:6.2f} frames/s   ({load()})")
        peer = timed([sys.executable, "-c", PEER, str(WEIGHTS), str(CLIP), str(args.frames)])
        print(f"yolo pose track 640  {args.frames} frames {peer:7.1f} s  {args.frames / peer:6.2f} frames/s   "
              f"({load()})")
        acc = run_preset("accurate", args.accurate_frames, tmp / "acc.json", args.render)
        print(f"accurate  {args.accurate_frames} frames {acc:7.1f} s  {args.accurate_frames / acc:6.2f} frames/s   "
              f"({load()})")
        found, oks, total = agreement(people(tmp / "acc.json"), people(tmp / "rt.json"))
        print(f"realtime vs accurate on {total} people-frames: found {100 * found:.1f} % (IoU >= 0.5), mean OKS "
              f"{oks:.3f}")


if __name__ == "__main__":
    main()

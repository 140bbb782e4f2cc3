"""Against a peer, same clip, same machine, same run: the default offline posetrack pipeline against
``yolo pose track`` (Ultralytics, BoT-SORT) with the same weights/yolo11n-pose.pt, plus the pipeline's overhead
(everything that is not a network forward).

The clip is the first --frames frames of examples/vtest.avi (copied without re-encoding). Every run is a fresh
process (``--child``): wall time from before the heavy imports and the model load to the last output, so both sides
pay for loading. Variants alternate within each repetition; ratios are medians of per-repetition ratios.

- posetrack: the default pipeline (detectors yolo at imgsz 960 + ssdlite, NMS 0.6, yolo-crop pose at 256 px
  since no MSPN weights are present, OKS-NMS, DIS flow at scale 0.5, tracker, JSON Lines + tracks.json).
  Decoding and writing overlap the networks (reader and writer threads, ``--prefetch 2``, the default).
- posetrack bf16: the same with ``--bf16`` (YOLO detector and pose networks in bf16 autocast on CPUs with native
  bf16; float32 elsewhere).
- yolo pose track at imgsz 960 (our detector's size: YOLO11n misses the ~70 px people at 640) and at 640 (its
  default): ``YOLO(weights).track(source, stream=True, persist=True, imgsz=..., save=False)``, which is what the
  ``yolo pose track`` command calls; --cli also times the two commands themselves (interpreter start included).

Network-forward time is the pipeline's own measure (``posetrack run --profile``: forward hooks on the YOLO
``nn.Module``, the SSDLite ONNX Runtime forward, the MSPN forward); overhead = run time - forward time.

On a GPU (--device cuda) both sides run there, YOLO in float32 on both (an MSPN/MDPN pose network would run in
fp16); the CPU-only variants (1 thread, bf16) are left out unless named in --variants.

    python benchmarks/bench_peer.py [--frames 100] [--repeats 3] [--cli] [--device cuda] [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "vtest.avi"
WEIGHTS = ROOT / "weights" / "yolo11n-pose.pt"
VARIANTS = {  # name -> child arguments
    "posetrack": ["ours"],
    "posetrack 1 thread": ["ours", "1"],
    "posetrack bf16": ["ours-fast"],
    "yolo pose track 960": ["peer", "960"],
    "yolo pose track 640": ["peer", "640"],
}


def cut_clip(frames: int, out: Path) -> Path:
    """The first ``frames`` frames of the bundled clip, stream-copied (no re-encoding); 0: the whole clip as it is."""
    if frames == 0:
        return CLIP
    from posetrack_cli.io.ffmpeg import ffmpeg_exe

    exe = ffmpeg_exe()
    if exe is None:
        sys.exit("no ffmpeg to cut the clip (pip install imageio-ffmpeg, or a system ffmpeg); --frames 0 runs the "
                 "whole clip uncut")
    subprocess.run([exe, "-v", "error", "-y", "-i", str(CLIP), "-frames:v", str(frames), "-c", "copy", str(out)],
                   check=True)
    return out


# -------------------------------------------------------------------------------------------------- child runs
def child_ours(clip: str, fast: bool, yolo_imgsz: int = 960, threads: int | None = None,
               device: str = "cpu") -> dict:
    """One run of the default pipeline (``fast``: plus --bf16; ``threads``: torch threads, default torch's) ->
    timings, counts, peak RSS. Network-forward seconds come from the pipeline's own clock
    (``forward_time.ForwardClock``, as ``posetrack run --profile``)."""
    start = time.perf_counter()
    import resource

    import torch

    if threads:
        torch.set_num_threads(threads)

    from posetrack_cli import pipeline
    from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig

    config = PipelineConfig(detect=DetectConfig(yolo_imgsz=yolo_imgsz, bf16=fast), pose=PoseConfig(bf16=fast),
                            time_forwards=True, device=device)  # as `posetrack run --profile`
    stages = pipeline.build_stages(config)
    load = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        result = pipeline.run_video(clip, Path(tmp) / "tracks.json", stages)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "load_s": load, "run_s": result.seconds, "frames": result.frames,
            "people": result.people, "forward_s": result.forward_seconds, "profile": result.profile,
            "pose": stages.estimator.name, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads()}


def child_peer(clip: str, imgsz: int, device: str = "cpu") -> dict:
    start = time.perf_counter()
    from ultralytics import YOLO

    model = YOLO(str(WEIGHTS))
    load = time.perf_counter() - start
    frames = people = 0
    for r in model.track(source=clip, stream=True, persist=True, imgsz=imgsz, save=False, verbose=False,
                         device=device):
        frames += 1
        people += len(r.boxes)
    wall = time.perf_counter() - start
    import torch

    return {"wall_s": wall, "load_s": load, "run_s": wall - load, "frames": frames, "people": people,
            "threads": torch.get_num_threads()}  # Ultralytics sets cpu_count - 1 on the CPU


def run_child(args: list[str], clip: Path, env: dict, device: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args, "--clip", str(clip), "--device", device], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(kind: str, clip: Path, env: dict, tmp: Path, device: str) -> dict:
    if kind == "posetrack":
        cmd = [str(Path(sys.executable).parent / "posetrack"), "run", str(clip), "--out", str(tmp / "cli.json"), "-q",
               "--device", device]
    else:
        cmd = [str(Path(sys.executable).parent / "yolo"), "pose", "track", f"model={WEIGHTS}", f"source={clip}",
               "imgsz=960", "save=False", "verbose=False", f"device={device}"]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return {"wall_s": time.perf_counter() - start}


# -------------------------------------------------------------------------------------------------- the table
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100, help="first frames of the clip; 0 = the whole clip (795)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time the posetrack and yolo commands (once each)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                    help="default: all on a CPU, without the CPU-only '1 thread' and 'bf16' on CUDA")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind = args.child[0]
        result = (child_peer(args.clip, int(args.child[1]), args.device) if kind == "peer"
                  else child_ours(args.clip, fast=kind == "ours-fast", device=args.device,
                                  threads=int(args.child[1]) if len(args.child) > 1 else None))
        print(json.dumps(result))
        return
    print(describe())
    variants = args.variants or [v for v in VARIANTS
                                 if args.device == "cpu" or v not in ("posetrack 1 thread", "posetrack bf16")]
    for needed in ("posetrack", "yolo pose track 960", "yolo pose track 640"):
        if needed not in variants:
            variants.append(needed)  # the table's ratios need them
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, YOLO_OFFLINE="1", YOLO_VERBOSE="False", YOLO_CONFIG_DIR=str(tmp / "yolo-config"))
        clip = cut_clip(args.frames, tmp / "clip.avi")
        if args.frames == 0:
            import cv2

            args.frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
        runs = defaultdict(list)
        for r in range(args.repeats):
            names = variants if r % 2 == 0 else variants[::-1]  # alternate the order
            for name in names:
                runs[name].append(run_child(VARIANTS[name], clip, env, args.device))
                print(f"# repeat {r + 1} {name}: {runs[name][-1]['wall_s']:.1f} s", flush=True)
        cli = {k: run_cli(k, clip, env, tmp, args.device) for k in ("posetrack", "yolo")} if args.cli else {}
    report(args, runs, cli)


def report(args, runs: dict, cli: dict) -> None:
    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    def ratio(a, b):
        return statistics.median(x["wall_s"] / y["wall_s"] for x, y in zip(runs[a], runs[b]))

    ours = runs["posetrack"][0]
    print(f"clip: first {args.frames} frames of {CLIP.name} (768x576, 10 fps); pose model {ours['pose']}; "
          f"{args.repeats} repetitions, fresh process per run; device {args.device}")
    print("| variant | imgsz | torch threads | wall s (median [min, max]) | load s | frames/s | people/frame | "
          "x yolo 960 | x yolo 640 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in (v for v in VARIANTS if v in runs):
        walls = [r["wall_s"] for r in runs[name]]
        imgsz = name.rsplit(" ", 1)[-1] if name.startswith("yolo") else "960 (+ssdlite 300, crops 256)"
        print(f"| {name} | {imgsz} | {runs[name][0]['threads']} | {statistics.median(walls):.1f} "
              f"[{min(walls):.1f}, {max(walls):.1f}] | "
              f"{med(name, 'load_s'):.1f} | {args.frames / med(name, 'run_s'):.2f} | "
              f"{med(name, 'people') / args.frames:.1f} | {ratio(name, 'yolo pose track 960'):.2f} | "
              f"{ratio(name, 'yolo pose track 640'):.2f} |")
    for name in (v for v in ("posetrack", "posetrack 1 thread", "posetrack bf16") if v in runs):
        forward, run = med(name, "forward_s"), med(name, "run_s")
        stages = {k: statistics.median(r["profile"].get(k, 0.0) for r in runs[name])
                  for k in ("decode", "detect", "pose", "nms", "track", "write")}
        print(f"{name}: run {run:.1f} s, network forwards {forward:.1f} s, overhead (everything else) "
              f"{run - forward:.1f} s = {100 * (run - forward) / run:.1f}% of the run; stages (--profile): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    for kind, r in cli.items():
        print(f"command line ({kind}, once, interpreter start included): {r['wall_s']:.1f} s")


if __name__ == "__main__":
    main()

"""Keypoint agreement of the speed paths with the float32 path on the real clip (examples/vtest.avi): the mean OKS
between the two paths' keypoints for the same detected people (COCO sigmas, box areas, all 17 keypoints).

MSPN (runtimes "onnx" and "int8", and bf16 autocast, each against eager float32). No MSPN checkpoint is available
offline, so unless --pose-weights is given the network is 2xMSPN-50 with random weights whose final 3x3 convolution is
fitted by ridge regression to Gaussian heatmaps (sigma 2 px, peak 255: the MSPN target) of the YOLO11n-pose keypoints
on crops of the first half of the sampled frames ("fit" frames). Its BatchNorm layers keep PyTorch's default
statistics, so its activations are 1e-3..1e-5, far below a trained network's (--proxy-bn data sets the statistics from
the fit crops instead: activations of order 1, but then every rounding path, TF32 included, falls to a mean OKS of
0.60-0.76: the refitted readout is ill-conditioned; benchmarks/RESULTS.md §6). This gives heatmaps with real peaks on
real crops, which is what int8 must preserve; it is not an accurate pose model (its error to the pseudo-labels is
printed) and a trained MSPN may quantise better or worse. The int8 model is calibrated, as in the pipeline, on the
first network inputs it sees (PoseConfig.int8_calibration, 128: crops of the fit frames, so use at least 40 --frames);
agreement is measured on the other frames ("test" frames).

YOLO crop estimator (real weights, the bundled default pose path): bf16 against float32, and crop sizes below the
default 256 px against 256 px, with the time per frame of each.

With --device cuda the GPU's paths are added, each against the CPU float32 path: MSPN in float32 (TF32
convolutions, PyTorch's cuDNN default), in fp16 autocast (TopDownEstimator(cuda_half=False)) and with fp16 weights
(the default on CUDA: PoseConfig.amp); YOLO crop pose in float32 on the GPU (the library keeps YOLO float32 on CUDA).

    python benchmarks/bench_agreement.py [--frames 40] [--pose-weights mspn.pth] [--int8-calibration 64 128]
        [--skip mspn|yolo] [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS, DetectConfig, PoseConfig  # noqa: E402
from posetrack_cli.detect.ensemble import build_detector  # noqa: E402
from posetrack_cli.geometry import box_areas, oks_matrix  # noqa: E402
from posetrack_cli.nets.precision import cpu_has_native_bf16  # noqa: E402
from posetrack_cli.pose.topdown import TopDownEstimator, normalise  # noqa: E402
from posetrack_cli.pose.yolo_crop import YoloCropEstimator  # noqa: E402
from posetrack_cli.records import COCO17  # noqa: E402
from posetrack_cli.zoo import load_card, resolve_path  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"
CARD = "mspn-2x50-coco"
SIGMA = 2.0  # heatmap pixels: the MSPN / Simple Baselines target Gaussian for 64x48 heatmaps
RIDGE = 0.1  # regularisation relative to each feature's variance; a larger value gives flatter heatmaps


def sample_frames(count: int, stride: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(CLIP))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % stride == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def in_batches(fn, frames, dets, size=4) -> list:
    out = []
    for i in range(0, len(frames), size):
        out += fn(frames[i:i + size], dets[i:i + size])
    return out


def mean_oks(a_poses, b_poses) -> float:
    values = []
    for a, b in zip(a_poses, b_poses):
        if len(a):
            areas = box_areas(a.boxes_xyxy)
            values += list(np.diag(oks_matrix(a.keypoints, b.keypoints, areas, areas, COCO17.sigmas)))
    return float(np.mean(values)) if values else float("nan")


# ------------------------------------------------------------------------------------ MSPN with a fitted readout
def recalibrate_batchnorm(net, card, crops: np.ndarray, batch: int = 8) -> None:
    """Set every BatchNorm layer's running statistics to those of its input over ``crops`` (cumulative averages
    over batches, each layer seeing its normalised predecessors), as training would leave them."""
    layers = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average
        layer.train()
    with torch.no_grad():
        for start in range(0, len(crops), batch):
            net.predict(normalise(torch.from_numpy(crops[start:start + batch]), card, torch.device("cpu")))
    net.eval()


def fit_readout(net, card, crops: np.ndarray, keypoints: np.ndarray, batch: int = 4) -> None:
    """Fit the last 3x3 convolution of ``net`` (BN folded) to Gaussian heatmaps of ``keypoints`` (N, 17, 3) in
    crop pixels (score > 0.5 counts): ridge regression on the zero-padded 3x3 neighbourhoods of its input."""
    last = net.head.predict_layers[-1].conv_layers[1].conv
    captured = {}
    hook = last.register_forward_hook(lambda m, i, o: captured.__setitem__("x", i[0]))
    h, w = card.input_size[1] // 4, card.input_size[0] // 4
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    dims = last.in_channels * 9 + 1
    gram, rhs = torch.zeros(dims, dims, dtype=torch.float64), torch.zeros(dims, 17, dtype=torch.float64)
    for start in range(0, len(crops), batch):
        with torch.inference_mode():
            net.predict(normalise(torch.from_numpy(crops[start:start + batch]), card, torch.device("cpu")))
        feats = captured["x"].float()
        cols = F.unfold(feats, 3, padding=1).transpose(1, 2).reshape(-1, dims - 1)  # (B*h*w, C*9)
        cols = torch.cat([cols, torch.ones(len(cols), 1)], 1)
        kp = torch.from_numpy(keypoints[start:start + batch])
        cx, cy = (kp[..., 0] - 2) / 4, (kp[..., 1] - 2) / 4  # crop pixel = 4 x + 2 (MSPN decode)
        target = 255 * torch.exp(-((xx - cx[..., None, None]) ** 2 + (yy - cy[..., None, None]) ** 2)
                                 / (2 * SIGMA**2)) * (kp[..., 2] > 0.5)[..., None, None]
        gram += (cols.T @ cols).double()
        rhs += (cols.T @ target.permute(0, 2, 3, 1).reshape(-1, 17)).double()
    hook.remove()
    n = len(crops) * h * w
    var = (gram.diagonal() / n - (gram[-1] / n) ** 2).clamp_min(1e-12)
    var[-1] = 0.0  # the bias column is not regularised
    solution = torch.linalg.solve(gram + RIDGE * n * torch.diag(var), rhs).float()  # (C*9 + 1, 17)
    with torch.no_grad():
        last.weight.copy_(solution[:-1].T.reshape(last.weight.shape))
        last.bias = torch.nn.Parameter(solution[-1].clone(), requires_grad=False)


def mspn_agreement(args, fit, test) -> None:
    from posetrack_cli.nets.checkpoint import load_checkpoint
    from posetrack_cli.nets.mspn import MSPN
    from posetrack_cli.nets.resnet import fold_batchnorm

    card = load_card(CARD)
    (fit_frames, fit_dets), (test_frames, test_dets) = fit, test
    torch.manual_seed(0)
    net = MSPN(2).eval().requires_grad_(False)
    if args.pose_weights:
        load_checkpoint(net, Path(args.pose_weights), card.weights.layout)
        fold_batchnorm(net)
        print(f"MSPN: checkpoint {args.pose_weights}")
    else:
        labeller = YoloCropEstimator(resolve_path(None, DEFAULT_YOLO_WEIGHTS), PoseConfig(), "cpu")
        _, crops = labeller._crops(fit_frames, fit_dets)
        labels = labeller._keypoints_in_crops(crops)
        start = time.perf_counter()
        if args.proxy_bn == "data":
            recalibrate_batchnorm(net, card, crops)
        fold_batchnorm(net)
        fit_readout(net, card, crops, labels)
        print(f"MSPN: random weights, BatchNorm statistics {args.proxy_bn}, final convolution fitted on {len(crops)} "
              f"crops of {len(fit_frames)} frames in {time.perf_counter() - start:.0f} s")
    paths = {"float32 (torch)": dict(runtime="torch"), "onnx float32": dict(runtime="onnx")}
    for count in args.int8_calibration:
        paths[f"int8 (onnx), {count} calibration inputs"] = dict(runtime="int8", calibration=count)
    if cpu_has_native_bf16():
        paths["bf16 autocast"] = dict(cpu_bf16=True)
    if args.device == "cuda":
        paths.update({"cuda float32 (TF32 convolutions)": dict(device="cuda", amp=False),
                      "cuda fp16 autocast": dict(device="cuda", cuda_half=False),
                      "cuda fp16 weights": dict(device="cuda", cuda_half=True)})
    results, seconds = {}, {}
    for name, options in paths.items():
        config = PoseConfig(int8_calibration=options.pop("calibration", PoseConfig.int8_calibration),
                            amp=options.pop("amp", True))
        est = TopDownEstimator(copy.deepcopy(net), card, config, options.pop("device", "cpu"), **options)
        in_batches(est.estimate, fit_frames, fit_dets)  # warm-up; int8: calibration on the fit frames' crops
        if options.get("runtime") == "int8" and not est._predict.quantised:
            sys.exit(f"int8 was not calibrated on the fit frames ({sum(len(a) for a in est._predict._recorded)} of "
                     f"{config.int8_calibration} inputs seen): use more --frames")
        start = time.perf_counter()
        results[name] = in_batches(est.estimate, test_frames, test_dets)
        if est.device.type == "cuda":
            torch.cuda.synchronize()
        seconds[name] = (time.perf_counter() - start) / len(test_frames)
    ref = results["float32 (torch)"]
    quality(ref, test_frames, test_dets)
    people = sum(len(p) for p in ref)
    print(f"| MSPN path | mean OKS vs float32 | keypoints within 1 heatmap px | pose ms/frame ({people} people, "
          f"{len(test_frames)} test frames) |")
    print("|---|---|---|---|")
    for name, poses in results.items():
        print(f"| {name} | {mean_oks(ref, poses):.4f} | {within(ref, poses, 4 * 1.25):.3f} | "
              f"{1000 * seconds[name]:.0f} |")


def within(a_poses, b_poses, crop_px: float) -> float:
    """Fraction of keypoints whose two positions differ by less than ``crop_px`` crop pixels (box-scaled)."""
    hits, total = 0, 0
    for a, b in zip(a_poses, b_poses):
        if len(a):
            scale = (a.boxes_xyxy[:, 3] - a.boxes_xyxy[:, 1])[:, None] * 1.25 / 256  # frame px per crop px
            d = np.linalg.norm(a.keypoints[..., :2] - b.keypoints[..., :2], axis=-1) / np.maximum(scale, 1e-6)
            hits += int((d < crop_px).sum())
            total += d.size
    return hits / max(total, 1)


def quality(mspn_poses, frames, dets) -> None:
    """How meaningful the fitted heatmaps are: OKS of the MSPN keypoints to the YOLO crop keypoints (the labels)."""
    labeller = YoloCropEstimator(resolve_path(None, DEFAULT_YOLO_WEIGHTS), PoseConfig(), "cpu")
    labels = in_batches(labeller.estimate, frames, dets)
    print(f"MSPN float32 against the YOLO11n-pose crop keypoints (its labels) on the test frames: mean OKS "
          f"{mean_oks(labels, mspn_poses):.3f}")


# ------------------------------------------------------------------------------------------------ YOLO crop pose
def yolo_agreement(args, frames, dets) -> None:
    weights = resolve_path(None, DEFAULT_YOLO_WEIGHTS)
    if args.device == "cuda":  # (size, precision, device)
        variants = [(256, "float32", "cpu"), (256, "float32", "cuda")]
    else:
        variants = [(256, "float32", "cpu"), (256, "bf16", "cpu"), (224, "float32", "cpu"),
                    (192, "float32", "cpu"), (160, "float32", "cpu")]
        if not cpu_has_native_bf16():
            variants.remove((256, "bf16", "cpu"))
    results, seconds = {}, {}
    for key in variants:
        size, precision, device = key
        est = YoloCropEstimator(weights, PoseConfig(crop_size=size), device, bf16=precision == "bf16")
        est.estimate(frames[:4], dets[:4])  # warm-up
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            results[key] = in_batches(est.estimate, frames, dets)
            runs.append((time.perf_counter() - start) / len(frames))
        seconds[key] = statistics.median(runs)
    ref = results[variants[0]]
    people = sum(len(p) for p in ref)
    print(f"| YOLO crop pose | mean OKS vs 256 px float32 | pose ms/frame (median of {args.repeats}; {people} "
          f"people, {len(frames)} frames) |")
    print("|---|---|---|")
    for key, poses in results.items():
        print(f"| {key[0]} px {key[1]}{' cuda' if key[2] == 'cuda' else ''} | {mean_oks(ref, poses):.4f} | "
              f"{1000 * seconds[key]:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40, help="frames sampled from the clip (half fit, half test)")
    ap.add_argument("--stride", type=int, default=10, help="clip frames between two sampled frames")
    ap.add_argument("--repeats", type=int, default=3, help="timing repetitions of the YOLO crop variants")
    ap.add_argument("--pose-weights", default=None, help="an MSPN-2x50 checkpoint (then nothing is fitted)")
    ap.add_argument("--int8-calibration", type=int, nargs="*", default=[PoseConfig.int8_calibration],
                    help="int8 rows, one per number of calibration inputs (the pipeline's default: %(default)s)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["mspn", "yolo"])
    ap.add_argument("--proxy-bn", default="default", choices=["default", "data"],
                    help="the proxy's BatchNorm statistics: PyTorch's defaults (mean 0, variance 1), or set from the "
                         "fit crops")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: add the GPU's paths (float32, fp16 autocast, fp16 weights) against CPU float32")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(describe())
    frames = sample_frames(args.frames, args.stride)
    detector = build_detector(DetectConfig(), "cpu")
    dets = in_batches(lambda f, _: detector.detect(f), frames, [None] * len(frames))
    half = len(frames) // 2
    fit, test = (frames[0::2], dets[0::2]), (frames[1::2], dets[1::2])  # interleaved: the same scenes, other frames
    print(f"clip {CLIP.name}: {len(frames)} frames (every {args.stride}th), {sum(len(d) for d in dets)} people "
          f"(default ensemble: yolo 960 + ssdlite); {half} fit / {len(frames) - half} test frames")
    if "yolo" not in args.skip:
        yolo_agreement(args, *test)
    if "mspn" not in args.skip:
        mspn_agreement(args, fit, test)


if __name__ == "__main__":
    main()

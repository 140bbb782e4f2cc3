"""int8 on CPUs without VNNI: the same int8 graphs run on this CPU and on an emulated AVX2 CPU without AVX-512 or
VNNI (QEMU user mode, ``-cpu Haswell``), against float32 on this CPU.

ONNX Runtime's int8 convolutions multiply uint8 activations by int8 weights. On x86 CPUs without VNNI (AVX2 and
AVX-512 Skylake) it does so with VPMADDUBSW, which adds two products in a signed 16-bit lane and saturates when
they exceed 32767 (255 x 127 x 2 = 64770); VNNI (VPDPBUSD) adds them in 32 bits. Each graph here is quantised once,
on this CPU, from the same calibration inputs; only running it differs between the CPUs. Settings:

  s8        int8 weights over the full range -127..127 (the library's setting before this benchmark)
  s8-7bit   int8 weights over -64..63 (``reduce_range``): a pair of products stays below 32767 on every CPU
  u8u8      uint8 weights (ONNX Runtime's U8U8 kernels, which widen to 16 bits before multiplying)

The network is the proxy of bench_agreement.py (2xMSPN-50, random weights, final convolution fitted on the fit
frames' crops; or --pose-weights), calibrated on the first PoseConfig.int8_calibration network inputs of the fit
frames, as in the pipeline. Agreement: on the test frames' crops (each with its mirror image: the flip test), the
keypoints decoded from each graph's heatmaps against those of float32 on this CPU: mean OKS in crop pixels (COCO
sigmas, the person's area = the crop's over the padding squared), mean absolute keypoint-score difference, and
whether the output collapsed (``pose.agreement``). Speed: ms per crop at --batch crops a forward (flip test
included), median of --repeats, on this CPU only (emulation is ~100x slower). The emulated run is slow: keep
--crops small there.

Recipe (``apt-get install qemu-user``; QEMU >= 7.2 emulates AVX2):

    python benchmarks/bench_int8_isa.py prepare --dir /tmp/int8isa [--frames 40] [--detectors yolo]
    python benchmarks/bench_int8_isa.py run --dir /tmp/int8isa --tag native
    qemu-x86_64 -cpu Haswell "$(command -v python)" benchmarks/bench_int8_isa.py run --dir /tmp/int8isa \\
        --tag haswell --crops 12 --repeats 1 --batch 8
    python benchmarks/bench_int8_isa.py report --dir /tmp/int8isa
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SETTINGS = {"s8": dict(reduce_range=False), "s8-7bit": dict(reduce_range=True), "u8u8": dict(weights="uint8")}


def prepare(args) -> None:
    import torch

    from bench_agreement import CARD, fit_and_test, proxy_network
    from machine import describe
    from posetrack_cli.config import PoseConfig
    from posetrack_cli.pose.onnx_runtime import quantize_int8
    from posetrack_cli.pose.topdown import TopDownEstimator, normalise
    from posetrack_cli.zoo import load_card

    print(describe())
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(CARD)
    (fit_frames, fit_dets), (test_frames, test_dets) = fit_and_test(args.frames, args.stride, args.detectors)
    net = proxy_network(card, fit_frames, fit_dets, args.pose_weights)
    est = TopDownEstimator(net, card, PoseConfig(), "cpu", runtime="int8")
    recorded = []
    est._predict.calibrate = recorded.append  # keep the calibration inputs the pipeline would use; quantise below
    for i in range(0, len(fit_frames), 4):
        est.estimate(fit_frames[i:i + 4], fit_dets[i:i + 4])
    if not recorded:
        sys.exit(f"the fit frames gave fewer than {PoseConfig.int8_calibration} network inputs: use more --frames")
    shutil.copy(est._predict.fp32_path, out / "fp32.onnx")
    for name, options in SETTINGS.items():
        start = time.perf_counter()
        quantize_int8(out / "fp32.onnx", out / f"{name}.onnx", recorded[0], **options)
        print(f"{name}: quantised on {len(recorded[0])} inputs in {time.perf_counter() - start:.0f} s", flush=True)
    crops, _ = est._crops(test_frames, test_dets)
    np.save(out / "test_crops.npy", normalise(torch.from_numpy(crops), card, torch.device("cpu")).numpy())
    meta = {"flip_permutation": est._flip_perm.tolist(), "sigmas": list(est.skeleton.sigmas),
            "padding": PoseConfig.padding, "crops": len(crops)}
    (out / "meta.json").write_text(json.dumps(meta))
    print(f"{len(crops)} test crops of {len(test_frames)} frames saved")


def run(args) -> None:
    """Heatmaps of the first --crops test crops (and their mirror images) from every graph, and the time per crop."""
    import torch

    from machine import describe, load
    from posetrack_cli.pose.onnx_runtime import make_session

    print(describe())
    print(f"CPU as this process sees it (CPUID, through PyTorch): {torch.backends.cpu.get_cpu_capability()}, "
          f"AVX512-VNNI {torch.cpu._is_vnni_supported()}")
    out = Path(args.dir)
    x = np.load(out / "test_crops.npy")[:args.crops]
    x = np.concatenate([x[:, None], x[:, None, ..., ::-1]], 1).reshape(-1, *x.shape[1:])  # crop, mirror, crop, ...
    x = np.ascontiguousarray(x)
    sessions = {name: make_session(out / f"{name}.onnx", args.threads) for name in args.graphs}
    runs: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.repeats):  # the graphs alternate within every repetition (other processes share the CPU)
        for name, session in sessions.items():
            start = time.perf_counter()
            y = np.concatenate([session.run(None, {"crops": x[i:i + args.batch]})[0]
                                for i in range(0, len(x), args.batch)])
            runs[name].append((time.perf_counter() - start) / (len(x) // 2))
            np.save(out / f"heatmaps-{name}-{args.tag}.npy", y)
    timings = {name: 1000 * statistics.median(r) for name, r in runs.items()}
    for name, ms in timings.items():
        print(f"{name}: {len(x) // 2} crops, {ms:.1f} ms per crop (median of {args.repeats}: "
              f"{', '.join(f'{1000 * t:.0f}' for t in runs[name])})")
    print(load())
    (out / f"timings-{args.tag}.json").write_text(json.dumps(timings))


def keypoints(heatmaps: np.ndarray, perm: list[int]) -> np.ndarray:
    """(2N, K, h, w) heatmaps of crops and their mirror images -> (N, K, 3) flip-test keypoints in crop pixels."""
    import torch

    from posetrack_cli.pose.decode import decode_heatmaps, flip_back

    y = torch.from_numpy(heatmaps).reshape(-1, 2, *heatmaps.shape[1:])
    averaged = (y[:, 0] + flip_back(y[:, 1], perm)) * 0.5
    xy, scores = decode_heatmaps(averaged)
    return torch.cat([xy * 4 + 2, scores[..., None]], -1).numpy()  # heatmap px -> crop px (stride 4)


def report(args) -> None:
    """One row per graph and CPU: agreement with float32 on this CPU over the crops that CPU ran, and, for an
    emulated CPU, the same graph on this CPU over the same crops."""
    from posetrack_cli.pose.agreement import keypoint_agreement

    out = Path(args.dir)
    meta = json.loads((out / "meta.json").read_text())
    perm = meta["flip_permutation"]
    reference = keypoints(np.load(out / "heatmaps-fp32-native.npy"), perm)
    area = 256 * 192 / meta["padding"] ** 2
    timings = {p.stem.removeprefix("timings-"): json.loads(p.read_text()) for p in sorted(out.glob("timings-*"))}
    print("| graph | CPU | crops | mean OKS vs float32 (this CPU) | mean abs score difference | collapsed | "
          "ms per crop (this CPU) |")
    print("|---|---|---|---|---|---|---|")
    for name in ["fp32", *SETTINGS]:
        for tag in timings:
            path = out / f"heatmaps-{name}-{tag}.npy"
            if not path.is_file():
                continue
            heatmaps = np.load(path)
            rows = {tag: heatmaps}
            if tag != "native" and (out / f"heatmaps-{name}-native.npy").is_file():
                rows["native, same crops"] = np.load(out / f"heatmaps-{name}-native.npy")[:len(heatmaps)]
            for label, maps in rows.items():
                kp = keypoints(maps, perm)
                a = keypoint_agreement(reference[:len(kp)], kp, np.full(len(kp), area), meta["sigmas"])
                speed = f"{timings['native'][name]:.1f}" if label == "native" else ""
                print(f"| {name} | {label} | {len(kp)} | {a.mean_oks:.4f} | {a.score_error:.4f} | "
                      f"{a.collapse or 'no'} | {speed} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["prepare", "run", "report"])
    ap.add_argument("--dir", required=True, help="folder of the graphs, inputs and results")
    ap.add_argument("--frames", type=int, default=40, help="prepare: frames sampled from the clip (half fit)")
    ap.add_argument("--stride", type=int, default=10, help="prepare: clip frames between two sampled frames")
    ap.add_argument("--detectors", nargs="+", default=["yolo"], help="prepare: person detectors")
    ap.add_argument("--pose-weights", default=None, help="prepare: an MSPN-2x50 checkpoint instead of the proxy")
    ap.add_argument("--tag", default="native", help="run: the name of this CPU in the report")
    ap.add_argument("--crops", type=int, default=None, help="run: the first CROPS test crops (default: all)")
    ap.add_argument("--batch", type=int, default=32, help="run: network inputs per forward")
    ap.add_argument("--repeats", type=int, default=3, help="run: timing repetitions")
    ap.add_argument("--threads", type=int, default=None, help="run: ONNX Runtime threads (default: torch's)")
    ap.add_argument("--graphs", nargs="+", default=["fp32", *SETTINGS], choices=["fp32", *SETTINGS],
                    help="run: the graphs to run (float32 is slow to emulate: ~30 min a crop)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    {"prepare": prepare, "run": run, "report": report}[args.step](args)


if __name__ == "__main__":
    main()

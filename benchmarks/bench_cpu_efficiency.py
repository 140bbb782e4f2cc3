"""Network efficiency: MSPN forward throughput of every inference path against the machine's matrix-multiply
throughput, both measured in the same run.

Every repetition times, for each variant, one large matrix multiply (the reference, n = 4096, torch.matmul -> MKL)
immediately followed by one forward of a batch of crops; the ratio of the two rates is taken per repetition and the
table reports medians over repetitions (robust to other processes sharing the CPU). FLOPs of a forward are counted
by ``torch.utils.flop_counter`` (convolutions and matrix multiplies, 2 per multiply-add). Weights are random: speed
does not depend on them (keypoint agreement of int8 / bf16: benchmarks/bench_agreement.py).

CPU variants (cumulative up to +cl, then alternatives to it):
  eager      torch.no_grad, BatchNorm layers, NCHW, model.predict (the plain path)
  +inference torch.inference_mode
  +fold      BatchNorm folded into the convolutions (nets.resnet.fold_batchnorm)
  +cl        channels_last (TopDownEstimator runtime "torch", the default)
  onnx       ONNX Runtime float32, blocked NCHWc layouts, fused conv+add+ReLU (runtime "onnx")
  compile    torch.compile (Inductor, freezing: prepacked oneDNN weights, fused conv+add+ReLU), through the library's
             wrapper pose.compiled.CompiledPredict (runtime "compile"; the batch is its largest bucket: no padding)
  bf16       +cl in bf16 autocast (AMX); its ratio is against a bf16 matrix multiply (cpu_bf16=True)
  int8       ONNX Runtime int8, static quantisation (runtime "int8"); no FLOP ratio, speed-up only
CUDA variants (--device cuda): eager, +fold+cl, fp16 (autocast: TopDownEstimator(cuda_half=False)), fp16+compile, half
(weights and activations fp16: what TopDownEstimator runs on CUDA, PoseConfig.amp), half+compile. The float32
variants' reference is a float32 matmul (TF32 off, PyTorch's default; cuDNN convolutions do use TF32, so float32
ratios can exceed 1), the fp16 ones' an fp16 matmul of n = 8192 (the GPU's measured fp16 peak). On CUDA each timing is
--inner back-to-back calls (default 20) between two synchronisations, so launch latency overlaps as it does in the
pipeline's stream of forwards.

    python benchmarks/bench_cpu_efficiency.py [--stages 2] [--batch 32] [--repeats 5] [--skip compile]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from posetrack_cli.nets.mspn import MSPN  # noqa: E402
from posetrack_cli.nets.resnet import fold_batchnorm  # noqa: E402

MATMUL_N = 4096  # square matmul of the reference; 2048-6144 gave the same rate (+-3%) on the benchmark machine
CUDA_MATMUL_N = 8192  # on a GPU 4096 is too small to reach the tensor cores' peak
CPU_VARIANTS = ("eager", "+inference", "+fold", "+cl", "onnx", "compile", "bf16", "int8")
CUDA_VARIANTS = ("eager", "+fold+cl", "fp16", "fp16+compile", "half", "half+compile")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, count: int = 1) -> float:
    """Seconds per call of ``fn``, called ``count`` times between two synchronisations."""
    sync(device)
    start = time.perf_counter()
    for _ in range(count):
        fn()
    sync(device)
    return (time.perf_counter() - start) / count


def matmul_rate(device: torch.device, dtype: torch.dtype, count: int = 1) -> Callable[[], float]:
    """-> a function that multiplies two n x n matrices ``count`` times and returns GFLOP/s."""
    n = CUDA_MATMUL_N if device.type == "cuda" else MATMUL_N
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)
    return lambda: 2 * n**3 / timed(lambda: torch.matmul(a, b), device, count) / 1e9


def forward_flops(net: MSPN, x: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net.predict(x[:1])
    return counter.get_total_flops() * len(x)


def build_variant(name: str, stages: int, x: torch.Tensor, device: torch.device):
    """-> (run callable, reference dtype for the ratio or None)."""
    net = MSPN(stages).eval().requires_grad_(False).to(device)
    if name in ("eager", "+inference"):
        context = torch.no_grad if name == "eager" else torch.inference_mode
        return _in(context, lambda: net.predict(x)), torch.float32
    fold_batchnorm(net)
    if name == "+fold":
        return _in(torch.inference_mode, lambda: net.predict(x)), torch.float32
    cl = x.contiguous(memory_format=torch.channels_last)
    net = net.to(memory_format=torch.channels_last)
    if name in ("+cl", "+fold+cl"):
        return _in(torch.inference_mode, lambda: net.predict(cl)), torch.float32
    if name in ("half", "half+compile"):  # weights and activations in fp16, no autocast
        net, cl = net.half(), cl.half()
        if name == "half":
            return _in(torch.inference_mode, lambda: net.predict(cl)), torch.float16
    if name in ("bf16", "fp16"):
        dtype = torch.bfloat16 if name == "bf16" else torch.float16
        return _in(lambda: _autocast(device, dtype), lambda: net.predict(cl)), dtype
    if name in ("compile", "fp16+compile", "half+compile"):
        from posetrack_cli.pose.compiled import CompiledPredict

        compiled = CompiledPredict(net, len(x))  # what TopDownEstimator(runtime="compile") runs
        dtype = torch.float32 if name == "compile" else torch.float16
        context = (lambda: _autocast(device, dtype)) if name == "fp16+compile" else torch.inference_mode
        start = time.perf_counter()
        _in(context, lambda: compiled(cl))()
        print(f"# compile: {time.perf_counter() - start:.0f} s for the first call", flush=True)
        return _in(context, lambda: compiled(cl)), dtype
    if name in ("onnx", "int8"):
        from posetrack_cli.pose.onnx_runtime import OnnxHeatmapNet, make_session, quantize_int8

        onnx = OnnxHeatmapNet(net, (x.shape[-1], x.shape[-2]))
        if name == "int8":
            start = time.perf_counter()
            # the graph OnnxHeatmapNet.calibrate builds, without its check against float32: random weights have no
            # heatmap peaks to agree on (and the calibration data does not change the speed)
            path = quantize_int8(onnx.fp32_path, Path(tempfile.mkdtemp(prefix="bench-int8-")) / "int8.onnx",
                                 x[:16].cpu().numpy())
            onnx.session = make_session(path)
            print(f"# int8 quantisation: {time.perf_counter() - start:.0f} s", flush=True)
        return lambda: onnx(x), (torch.float32 if name == "onnx" else None)
    raise ValueError(name)


@contextlib.contextmanager
def _autocast(device: torch.device, dtype: torch.dtype):
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype):
        yield


def _in(context, fn):
    def run():
        with context():
            return fn()
    return run


def measure(args, device: torch.device) -> None:
    names = [v for v in (CUDA_VARIANTS if device.type == "cuda" else CPU_VARIANTS) if v not in args.skip]
    x = torch.randn(args.batch, 3, 256, 192, device=device)
    flops = forward_flops(MSPN(args.stages).eval().to(device), x)
    inner = args.inner or (20 if device.type == "cuda" else 1)
    refs = {torch.float32: matmul_rate(device, torch.float32, inner)}
    runs = {}
    for name in names:
        runs[name], dtype = build_variant(name, args.stages, x, device)
        if dtype is not None and dtype not in refs:
            refs[dtype] = matmul_rate(device, dtype, inner)
        runs[name]()  # warm-up (oneDNN primitive creation, ORT arena)
        runs[name] = (runs[name], dtype)
    seconds = {n: [] for n in names}
    ratios = {n: [] for n in names}
    ref_rates = {d: [] for d in refs}
    for _ in range(args.repeats):
        for name in names:
            run, dtype = runs[name]
            ref = refs[dtype or torch.float32]()
            ref_rates[dtype or torch.float32].append(ref)
            t = timed(run, device, inner)
            seconds[name].append(t)
            ratios[name].append(flops / t / 1e9 / ref)
    report(args, device, names, flops, seconds, ratios, ref_rates, runs)


def report(args, device, names, flops, seconds, ratios, ref_rates, runs) -> None:
    med = {n: statistics.median(s) for n, s in seconds.items()}
    n = CUDA_MATMUL_N if device.type == "cuda" else MATMUL_N
    print(f"{args.stages}xMSPN-50, 256x192, batch {args.batch}, {flops / args.batch / 1e9:.2f} GFLOP per crop, "
          f"{args.repeats} repetitions, device {device}")
    for dtype, rates in ref_rates.items():
        print(f"reference: {n}x{n} {str(dtype).replace('torch.', '')} matmul, median "
              f"{statistics.median(rates):.1f} GFLOP/s (min {min(rates):.1f}, max {max(rates):.1f})")
    fp32 = [n for n in names if runs[n][1] == torch.float32]
    best_fp32 = min(fp32, key=med.get) if fp32 else None
    print("| variant | crops/s | GFLOP/s | ratio to matmul (median [min, max]) | ratio, best of each | "
          "speed-up vs eager | vs best fp32 |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        dtype = runs[n][1]
        ratio = (f"{statistics.median(ratios[n]):.2f} [{min(ratios[n]):.2f}, {max(ratios[n]):.2f}]"
                 + ("" if dtype in (torch.float32, None) else f" ({str(dtype).replace('torch.', '')} matmul)")
                 if dtype is not None else "n/a (int8)")
        # the fastest forward against the fastest matmul: each the repetition least disturbed by other processes
        best_ratio = f"{flops / min(seconds[n]) / 1e9 / max(ref_rates[dtype]):.2f}" if dtype is not None else "n/a"
        eager = _speedup(seconds.get("eager"), seconds[n])
        best = _speedup(seconds.get(best_fp32), seconds[n]) if best_fp32 else "-"
        print(f"| {n} | {args.batch / med[n]:.2f} | {flops / med[n] / 1e9:.1f} | {ratio} | {best_ratio} | {eager} | "
              f"{best} |")
    if best_fp32:
        print(f"best float32 path: {best_fp32}")


def _speedup(base: list[float] | None, times: list[float]) -> str:
    """Median of the per-repetition time ratios (both timed in the same repetition)."""
    if not base:
        return "-"
    return f"{statistics.median(b / t for b, t in zip(base, times)):.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32,
                    help="network inputs per forward; 32 is the pipeline's (PoseConfig.batch_size: 16 people, each "
                         "plain and mirrored for the flip test)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--inner", type=int, default=None,
                    help="calls per timing (default 1 on a CPU, 20 on CUDA: one call is launch-bound there)")
    ap.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: torch's)")
    ap.add_argument("--skip", nargs="*", default=[], help="variants to leave out, e.g. compile")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    print(describe())
    measure(args, torch.device(args.device))


if __name__ == "__main__":
    main()

"""Crops per second of MSPN-50 networks: eager PyTorch vs the inference path of ``pose.topdown``.

Variants (random weights; speed does not depend on them):

- ``eager``: ``torch.no_grad()``, ``model(x)`` (all 4 x stages predictions), BatchNorm as separate layers.
- ``optimised``: ``torch.inference_mode()``, BN folded into the convolutions, only the final prediction
  (``model.predict``), as ``TopDownEstimator`` runs it.
- ``optimised+cl``: the same with channels_last tensors (``TopDownEstimator``'s default on every device).
- on CUDA also ``optimised+cl+fp16``: fp16 autocast (``PoseConfig.amp``).

One "crop" is one 256x192 network input; the flip test doubles the work per person.

    python benchmarks/bench_mspn.py                      # 1x and 2x MSPN-50, batches 1, 8, 32, CPU (and CUDA)
    python benchmarks/bench_mspn.py --stages 2 --batches 8 --device cuda --min-time 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.nets.resnet import fold_batchnorm


def variants(device: torch.device) -> list[str]:
    names = ["eager", "optimised", "optimised+cl"]
    return names + ["optimised+cl+fp16"] if device.type == "cuda" else names


def prepare(stages: int, variant: str, device: torch.device):
    """-> (callable taking an input batch, memory format of the input, grad/inference context factory)."""
    model = MSPN(stages).eval().to(device)
    if variant == "eager":
        return model, torch.contiguous_format, torch.no_grad
    fold_batchnorm(model)
    fmt = torch.channels_last if "+cl" in variant else torch.contiguous_format
    model = model.to(memory_format=fmt)
    if variant.endswith("fp16"):
        def run(x):
            with torch.autocast("cuda", dtype=torch.float16):
                return model.predict(x)
        return run, fmt, torch.inference_mode
    return model.predict, fmt, torch.inference_mode


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def crops_per_second(stages: int, batch: int, variant: str, device: torch.device, min_time: float,
                     warmup: int) -> tuple[float, float, int]:
    """-> (crops/s of the fastest iteration, crops/s of the median iteration, iterations). The fastest one is the
    figure least disturbed by other processes on a shared machine."""
    run, fmt, context = prepare(stages, variant, device)
    x = torch.randn(batch, 3, 256, 192, device=device).contiguous(memory_format=fmt)
    times = []
    with context():
        for _ in range(warmup):
            run(x)
        sync(device)
        start = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < min_time:
            tick = time.perf_counter()
            run(x)
            sync(device)
            times.append(time.perf_counter() - tick)
    return batch / min(times), batch / statistics.median(times), len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu plus cuda when present)")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds measured per cell (at least 3 runs)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA")
          + f", load average {os.getloadavg()[0]:.2f} at start")
    print("| device | model | batch | variant | crops/s (best) | crops/s (median) | iterations |")
    print("|---|---|---|---|---|---|---|")
    for device in devices:
        for stages in args.stages:
            for batch in args.batches:
                for variant in variants(device):
                    best, median, n = crops_per_second(stages, batch, variant, device, args.min_time, args.warmup)
                    print(f"| {device.type} | {stages}xMSPN-50 | {batch} | {variant} | {best:.2f} | {median:.2f} "
                          f"| {n} |", flush=True)
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
    print(f"# load average {os.getloadavg()[0]:.2f} at the end (other processes share the CPU when above 0)")


if __name__ == "__main__":
    main()

"""Reduced-precision inference switches shared by every network adapter: fp16 autocast on CUDA, bf16 autocast on
CPUs that compute bf16 natively (Intel AMX or AVX512-BF16: Sapphire Rapids / Cooper Lake and later, AMD Zen 4+).

On a CPU without native bf16, oneDNN emulates it with float32 conversions and bf16 runs slower than float32, so
``cpu_bf16`` is then ignored (logged once at INFO: the switch may be on by default, like ``amp`` on CUDA).
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch

from posetrack_cli.io.cpuinfo import read_cpuinfo

log = logging.getLogger(__name__)

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 dot products


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has AMX-BF16 or AVX512-BF16 (read from /proc/cpuinfo; False where it cannot be read)."""
    return any(f in (read_cpuinfo()[1] or ()) for f in _BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def _note_no_bf16() -> None:
    log.info("bf16 requested but this CPU has no native bf16 (%s): running float32", " / ".join(_BF16_FLAGS))


def autocast(device: torch.device | str, cuda_fp16: bool = True, cpu_bf16: bool = False):
    """fp16 autocast on CUDA when ``cuda_fp16``; bf16 autocast on a CPU with native bf16 when ``cpu_bf16``;
    otherwise a no-op context (float32)."""
    device = torch.device(device)
    if device.type == "cuda" and cuda_fp16:
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    if device.type == "cpu" and cpu_bf16:
        if cpu_has_native_bf16():
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
        _note_no_bf16()
    return contextlib.nullcontext()

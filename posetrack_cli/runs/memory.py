"""Process-wide memory settings of a long run."""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)


# glibc mallopt parameters (malloc.h) and the values that keep the heap flat on long videos without slowing every
# forward: a fixed mmap threshold (glibc's dynamic one drifts and fragments the heap: with the defaults RSS grew ~190
# MB over 3,000 frames, benchmarks/bench_memory.py), at most 2 arenas, and the heap given back to the system only
# when 64 MB are free at its top. Until session 7 the threshold was 64 KB and the trim threshold 128 KB: every
# network activation was then mapped, unmapped and faulted in again on each forward (2 million page faults for 60
# frames) and YOLO ran 1.8x slower in the pipeline than alone. 4 MB keeps most activations in the heap at full speed
# with RSS still bounded (32 MB was as fast and grew 137 MB in steps; benchmarks/RESULTS.md §10, "The allocator").
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": (-3, 4 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": (-1, 64 * 1024 * 1024),
            "MALLOC_ARENA_MAX": (-8, 2)}


def limit_heap_growth() -> bool:
    """Tune glibc's allocator for bounded memory (a fixed mmap threshold, few arenas); a setting the user gave in
    the environment is left alone. Process-wide: called once by the CLI. False where malloc is not glibc's."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    for env, (param, value) in _MALLOPT.items():
        if env not in os.environ and not libc.mallopt(param, value):
            log.debug("mallopt(%d, %d) refused", param, value)
    return True

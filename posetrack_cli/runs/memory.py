"""Process-wide memory settings of a long run."""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)


# glibc mallopt parameters (malloc.h) and the values that keep the heap flat on long videos: large buffers (frames,
# crop batches, network activations) are mmapped and returned to the system when freed, instead of fragmenting
# per-thread arenas. Measured in benchmarks/bench_memory.py: without them RSS grows ~190 MB over 3,000 frames.
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": (-3, 64 * 1024), "MALLOC_TRIM_THRESHOLD_": (-1, 128 * 1024),
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

"""Folder runs on a Ray cluster (``posetrack run FOLDER --out DIR --ray auto|ADDRESS``; the ``ray`` extra).

The driver (``ray_executor.py``) applies the local run's resume rules, hands videos (or chunks of long videos, see
``chunks.py``) to worker actors as they become free, retries an item whose worker process died, and writes the same
``summary.json``. Each worker (``ray_worker.py``) loads the models once and writes its outputs itself, to the same
paths as a local run: every machine must see the input and output folders at the same paths (a shared
filesystem) and have posetrack installed. Ray is imported only when ``--ray`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from posetrack_cli.errors import PosetrackError

RAY_MISSING = "--ray needs Ray: pip install 'posetrack-cli[ray]'"


@dataclass(frozen=True)
class RayConfig:
    address: str = "auto"  # "auto": the current Ray connection, else RAY_ADDRESS, else a new local instance bound
    # to 127.0.0.1 (no traffic leaves the machine); or a cluster address ("HOST:PORT", "ray://HOST:10001")
    cpus_per_task: float = 1.0  # CPUs each worker reserves, and its PyTorch threads (whole CPUs, at least 1:
    # ray_worker.worker_threads); raising it gives fewer, faster workers
    gpus_per_task: float = 0.0  # GPUs each worker reserves (a fraction shares one GPU between workers)
    workers: int | None = None  # worker actors; None = as many as the cluster's CPUs/GPUs allow (at most one per
    # item)
    retries: int = 2  # times an item runs again after its worker process died (a bad video is never retried)
    chunk_frames: int = 0  # split videos longer than this many frames at keyframes; 0 = off (outputs byte-identical
    # to the local run); chunks are re-joined over ``memory_frames`` overlapping frames (see chunks.py)
    dashboard: bool = False  # start Ray's dashboard with a local instance (it listens on 127.0.0.1 only)
    object_store_mb: int = 100  # object store of a local instance; only small records travel through it


def check_ray() -> None:
    """Raise a one-line error when Ray is not installed (before any video is touched)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise PosetrackError(RAY_MISSING) from None

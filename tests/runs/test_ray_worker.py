"""The Ray worker's PyTorch threads: the whole CPUs it reserves, at least one (Ray's rule for OMP_NUM_THREADS)."""

from __future__ import annotations

import pytest

from posetrack_cli.runs.ray_worker import worker_threads


@pytest.mark.parametrize("cpus,threads", [(1.0, 1), (2.0, 2), (3.7, 3), (0.5, 1), (0.01, 1), (16.0, 16)])
def test_worker_threads_are_the_whole_cpus_reserved(cpus, threads):
    assert worker_threads(cpus) == threads

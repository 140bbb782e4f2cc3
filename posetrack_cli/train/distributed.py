"""Multi-GPU training through ``torchrun`` (DistributedDataParallel): one process per GPU, rank 0 writes.

``torchrun --nproc_per_node=8 -m posetrack_cli.cli.app train CONFIG.yaml`` sets WORLD_SIZE/RANK/LOCAL_RANK; without
them training runs in one process on the device the config (or ``--device``) names.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from posetrack_cli.device import resolve_device
from posetrack_cli.errors import PosetrackError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), resolve_device(device_name)
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise PosetrackError("torchrun with --device cuda but no CUDA GPU is available")
    if device_name not in ("auto", "cpu") and not device_name.startswith("cuda"):
        raise PosetrackError(f"unsupported device {device_name!r} under torchrun: use auto, cpu or cuda")
    if device_name != "cpu" and torch.cuda.is_available():  # one GPU per process: cuda:LOCAL_RANK
        torch.cuda.set_device(info.local_rank)
        device = torch.device("cuda", info.local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    log.info("distributed training: rank %d of %d on %s", info.rank, world, device)
    return info, device


def wrap(model: nn.Module, info: DistInfo, device: torch.device, find_unused: bool) -> nn.Module:
    """DistributedDataParallel around ``model`` (built per phase: frozen parameters change between phases).

    ``find_unused``: MDPN heads of domains absent from a rank's batch get no gradient there."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def convert_sync_bn(model: nn.Module, info: DistInfo) -> nn.Module:
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if info.enabled else model


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def mean_across(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

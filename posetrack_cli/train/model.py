"""Build the network a config asks for, initialise it (ImageNet ResNet or a pretrained checkpoint), and describe
how its outputs are supervised.

ImageNet initialisation (MSPN.md section 2: "ImageNet ResNet-50 init into the stem and every stage's down path";
MDPN paper 2.2: "pre-trained models on ImageNet for ResNet backbone") reads a torchvision ResNet state dict from
``model.init_weights`` or, when that is unset, from torch's hub cache if a torchvision file is already there. Nothing
is downloaded; without weights the network stays randomly initialised and a warning says so.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

from posetrack_cli.errors import WeightsError
from posetrack_cli.nets.checkpoint import load_checkpoint, read_checkpoint, unwrap_state_dict
from posetrack_cli.nets.mdpn import MDPN
from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.train.config import LossConfig, ModelConfig
from posetrack_cli.train.losses import Supervision, mspn_plan, single_map_plan
from posetrack_cli.train.targets import TargetBuilder

log = logging.getLogger(__name__)

# torchvision ImageNet weights (IMAGENET1K_V1, the classic ones both papers' code bases used), by depth.
TORCHVISION_FILES = {50: "resnet50-0676ba61.pth", 101: "resnet101-63fe2227.pth", 152: "resnet152-394f9c45.pth"}


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


def mspn_size(cfg: ModelConfig) -> dict:
    """The MSPN size arguments the config sets (``num_blocks``, ``unit_channels``, ``base_channels``); the others
    keep nets.mspn.MSPN's MSPN-50 defaults."""
    sizes = {"num_blocks": cfg.num_blocks, "unit_channels": cfg.unit_channels, "base_channels": cfg.base_channels}
    return {k: v for k, v in sizes.items() if v is not None}


def build_model(cfg: ModelConfig, keypoints: dict[str, int]) -> nn.Module:
    """``keypoints``: domain -> keypoint count (MSPN: exactly one entry)."""
    if cfg.kind == "mspn":
        if len(set(keypoints.values())) != 1:
            raise WeightsError(f"an MSPN has one keypoint set; the datasets give {keypoints}")
        return MSPN(num_stages=cfg.num_stages, num_keypoints=next(iter(keypoints.values())), **mspn_size(cfg))
    return MDPN(backbone=cfg.backbone, domains={d: keypoints[d] for d in cfg.domains},
                intermediate_skip=cfg.intermediate_skip, num_stages=cfg.num_stages)


def supervision_plan(cfg: ModelConfig, targets: TargetBuilder, loss: LossConfig) -> list[Supervision]:
    """How each heatmap of one sample's output list is trained (see losses.Supervision)."""
    mspn_like = cfg.kind == "mspn" or cfg.backbone == "mspn"
    if mspn_like:
        table = targets.table if targets.cfg.kind == "mspn" else [[0] * 4 for _ in range(cfg.num_stages)]
        return mspn_plan(table, loss.unit_weight)
    plan = single_map_plan(2 if cfg.intermediate_skip else 1)
    finest = targets.table[-1][-1]  # ResNet MDPN with kind "mspn" targets: the finest kernel for every output
    return [Supervision(finest, s.weight, s.finest) for s in plan]


def final_heatmaps(model: nn.Module, images: torch.Tensor, domain: str) -> torch.Tensor:
    """(B, 3, H, W) -> the final (B, K, H/4, W/4) heatmaps (MSPN's last unit; MDPN's ``domain`` head)."""
    net = unwrap(model)
    if hasattr(net, "final_heatmaps"):
        return net.final_heatmaps(images)[domain]
    return net.predict(images)


def find_imagenet_weights(cfg: ModelConfig) -> Path | None:
    """``init_weights`` when set (must exist), else a torchvision file already in torch's hub cache, else None.
    An MSPN with a size of its own (``mspn_size``) takes no cached ResNet-50: it would not fit."""
    if cfg.init_weights:
        path = Path(cfg.init_weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"model.init_weights {path} not found; give a torchvision ResNet .pth or remove it")
        return path
    if cfg.kind == "mspn" and mspn_size(cfg):
        return None
    depth = 50 if cfg.kind == "mspn" or cfg.backbone == "mspn" else int(cfg.backbone[6:])
    cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES.get(depth, "")
    return cached if cached.is_file() else None


def _torchvision_to_mspn(key: str, stages: int) -> list[str]:
    """A torchvision ResNet key -> the MSPN keys it initialises (the stem once, the body in every stage)."""
    stem = re.match(r"^(conv1|bn1)\.(.+)$", key)
    if stem:
        return [f"backbone.top.top.0.{'conv' if stem[1] == 'conv1' else 'bn'}.{stem[2]}"]
    key = re.sub(r"\.downsample\.0\.", ".downsample.conv.", key)
    key = re.sub(r"\.downsample\.1\.", ".downsample.bn.", key)
    return [f"backbone.multi_stage_mspn.{s}.downsample.{key}" for s in range(stages)]


def imagenet_mapping(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision keys (``fc.*`` dropped) -> this model's keys: MSPN stem + every stage's down path, or the MDPN
    ResNet backbone (torchvision names under ``backbone.``)."""
    net = unwrap(model)
    stages = getattr(net.backbone, "num_stages", None)
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        for target in (_torchvision_to_mspn(key, stages) if stages else [f"backbone.{key}"]):
            out[target] = value
    return out


def init_from_imagenet(model: nn.Module, state: dict[str, torch.Tensor], source: str = "ImageNet weights") -> int:
    """Copy a torchvision ResNet into the model's down path, strictly: every mapped key must exist with the same
    shape and every down-path tensor must be covered. Returns the number of tensors copied."""
    net = unwrap(model)
    own = net.state_dict()
    mapped = imagenet_mapping(net, state)
    bad = [k for k, v in mapped.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    if bad:
        raise WeightsError(f"{source}: {len(bad)} tensor(s) do not fit this backbone (first {bad[0]}); "
                           f"use a torchvision ResNet of the backbone's depth")
    down = re.compile(r"^backbone\.(top\.|multi_stage_mspn\.\d+\.downsample\.|conv1|bn1|layer\d)")
    uncovered = [k for k in own if down.match(k) and k not in mapped and not k.endswith("num_batches_tracked")]
    if uncovered:
        raise WeightsError(f"{source}: {len(uncovered)} backbone tensor(s) missing from the file "
                           f"(first {uncovered[0]}); not a complete torchvision ResNet")
    own.update({k: v.to(own[k].dtype) for k, v in mapped.items()})
    net.load_state_dict(own, strict=True)
    return len(mapped)


def initialise(model: nn.Module, cfg: ModelConfig) -> str:
    """Pretrained checkpoint (strict), else ImageNet ResNet, else random (with a warning, except for a resized MSPN,
    which no ImageNet ResNet fits). Returns what was used."""
    if cfg.pretrained:

        load_checkpoint(unwrap(model), cfg.pretrained)
        return f"pretrained {cfg.pretrained}"
    path = find_imagenet_weights(cfg)
    if path is None and cfg.kind == "mspn" and mspn_size(cfg):
        log.info("a resized MSPN (model.num_blocks/unit_channels/base_channels) starts from random weights")
        return "random"
    if path is None:
        log.warning("no ImageNet ResNet weights (set model.init_weights to a torchvision resnet .pth): the "
                    "backbone starts from random weights, which trains far slower and ends lower")
        return "random"

    count = init_from_imagenet(model, unwrap_state_dict(read_checkpoint(path), str(path)), str(path))
    log.info("ImageNet initialisation from %s (%d tensors)", path, count)
    return f"imagenet {path}"

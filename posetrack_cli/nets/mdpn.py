"""MDPN: Multi-Domain Pose Network (Guo et al. 2018, "Multi-Domain Pose Network for Multi-Person Pose Estimation
and Tracking", seed 000): one shared backbone, one prediction head per dataset, predictions combined at test time.

Backbones (section 2.2):

- ``resnet50|101|152``: ResNet + three deconvolution layers (Simple Baselines, Xiao et al. 2018: 4x4, stride 2,
  256 channels, BN, ReLU) and a 1x1 prediction conv per domain. With ``intermediate_skip`` (the paper's ResNet-152
  model; the ResNet-50 ablation runs without it) an intermediate prediction after conv3 (``layer2``, stride 8) is
  supervised and added back to the second deconvolution layer through a 1x1 conv + BN. The shared trunk cannot
  depend on a sample's dataset, so the intermediate prediction covers the merged 21-keypoint set (MSPN.md
  section 6); each domain supervises the channels of its own keypoints.
- ``mspn``: the MSPN backbone (``num_stages``) with one full MSPN head per domain.

Keys: ``backbone.*`` (ResNet with torchvision names, so ImageNet weights load directly; or MSPN's) and
``heads.<domain>.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from posetrack_cli.nets.mspn import MSPNBackbone, MSPNHead, upsample_to
from posetrack_cli.nets.resnet import RESNET_LAYERS, Bottleneck, ConvBN, make_res_layer
from posetrack_cli.records import COCO17, MPII16, POSETRACK15, Skeleton

DOMAIN_SKELETONS: Mapping[str, Skeleton] = MappingProxyType({"coco": COCO17, "mpii": MPII16,
                                                             "posetrack": POSETRACK15})
DEFAULT_DOMAINS: Mapping[str, int] = MappingProxyType({d: s.num_keypoints for d, s in DOMAIN_SKELETONS.items()})
# MPII "upper_neck" is PoseTrack's "neck" (PT18 "head_bottom"): method A takes the PoseTrack head from MPII.
_CANONICAL = {"upper_neck": "neck"}
HEAD_JOINTS = ("head_top", "neck")  # the PoseTrack joints COCO lacks, exported beside COCO-17
OUTPUT_KEYPOINTS = COCO17.keypoints + HEAD_JOINTS  # what ``MDPN.predict`` returns, in this order
MERGED_KEYPOINTS = COCO17.keypoints + HEAD_JOINTS + ("thorax", "pelvis")  # union of the three sets: 21
METHODS = ("A", "B")
DECONV_CHANNELS = 256  # Simple Baselines: three 4x4 deconvolutions with 256 filters


def canonical_keypoints(skeleton: Skeleton) -> tuple[str, ...]:
    """Keypoint names with dataset synonyms unified (``upper_neck`` -> ``neck``)."""
    return tuple(_CANONICAL.get(name, name) for name in skeleton.keypoints)


def combine_heatmaps(final: Mapping[str, torch.Tensor], method: str = "B") -> torch.Tensor:
    """Final heatmaps per domain -> (B, 19, H, W) in ``OUTPUT_KEYPOINTS`` order (COCO-17, head_top, neck).

    Method A: the COCO branch, with head_top and neck from the MPII branch. Method B (voting): each keypoint is the
    mean of the heatmaps of every known-domain branch that predicts it (the 12 limb joints: all three branches;
    nose: COCO + PoseTrack; head joints: MPII + PoseTrack; eyes and ears: COCO alone).
    """
    if method not in METHODS:
        raise ValueError(f"unknown MDPN prediction method {method!r}: use one of {METHODS}")
    sources: dict[str, list[torch.Tensor]] = {name: [] for name in OUTPUT_KEYPOINTS}
    for domain, maps in final.items():
        if domain not in DOMAIN_SKELETONS or (method == "A" and domain == "posetrack"):
            continue
        for channel, name in enumerate(canonical_keypoints(DOMAIN_SKELETONS[domain])):
            used = name in sources and (method == "B" or (domain == "coco") != (name in HEAD_JOINTS))
            if used:
                sources[name].append(maps[:, channel])
    missing = [name for name, maps in sources.items() if not maps]
    if missing:
        raise ValueError(f"method {method} needs branches predicting {missing} (domains: {sorted(final)})")
    return torch.stack([torch.stack(maps).mean(0) if len(maps) > 1 else maps[0] for maps in sources.values()], 1)


class ResNetDeconv(nn.Module):
    """ResNet body (torchvision key names) + 3 deconvolution layers; optional conv3 intermediate prediction."""

    def __init__(self, depth: int = 50, intermediate_channels: int = 0) -> None:
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ResNet depth {depth} not supported: use one of {sorted(RESNET_LAYERS)}")
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        channels = 64
        for i, blocks in enumerate(RESNET_LAYERS[depth]):
            self.add_module(f"layer{i + 1}", make_res_layer(channels, 64 * 2**i, blocks, 1 if i == 0 else 2,
                                                            torchvision_names=True))
            channels = 64 * 2**i * Bottleneck.expansion
        layers = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(channels, DECONV_CHANNELS, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(DECONV_CHANNELS), nn.ReLU(inplace=True)]
            channels = DECONV_CHANNELS
        self.deconv_layers = nn.Sequential(*layers)
        if intermediate_channels:
            conv3_channels = 128 * Bottleneck.expansion  # layer2 ("conv3_x") output
            self.intermediate = nn.Sequential(ConvBN(conv3_channels, DECONV_CHANNELS),
                                              nn.Conv2d(DECONV_CHANNELS, intermediate_channels, 3, 1, 1))
            self.skip = ConvBN(intermediate_channels, DECONV_CHANNELS, relu=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> features (B, 256, H/4, W/4) and the intermediate prediction (B, 21, H/8, W/8) or None."""
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"ResNet-deconv input sides must be multiples of 32, got {tuple(x.shape[-2:])}")
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x)), inplace=True), 3, 2, 1)
        c3 = self.layer2(self.layer1(x))
        y = self.layer4(self.layer3(c3))
        inter = self.intermediate(c3) if hasattr(self, "intermediate") else None
        for i in range(3):
            y = self.deconv_layers[3 * i + 1](self.deconv_layers[3 * i](y))
            if i == 1 and inter is not None:
                y = y + self.skip(upsample_to(inter, y.shape[-2:]))
            y = F.relu(y, inplace=True)
        return y, inter


class MDPN(nn.Module):
    """Shared backbone + one head per domain (``domains``: name -> keypoint count).

    ``forward(x)`` -> per domain the list of supervised heatmaps, each (B, K_d, H/4, W/4) on the 0..255 scale,
    last = final. ResNet backbones: ``[final]``, or ``[intermediate, final]`` with ``intermediate_skip`` (the
    domain's channels of the merged-set intermediate prediction, upsampled from 1/8 to 1/4). MSPN backbone: all
    ``4 * num_stages`` MSPN predictions, stage by stage, coarse -> fine.
    ``predict(x)`` -> (B, 19, H/4, W/4): ``OUTPUT_KEYPOINTS`` combined with ``method`` ("A" or "B").
    """

    def __init__(self, backbone: str = "resnet50", domains: Mapping[str, int] = DEFAULT_DOMAINS, *,
                 intermediate_skip: bool = False, num_stages: int = 2, method: str = "B") -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown MDPN prediction method {method!r}: use one of {METHODS}")
        for domain, count in domains.items():
            known = DOMAIN_SKELETONS.get(domain)
            if known is not None and known.num_keypoints != count:
                raise ValueError(f"domain {domain} has {known.num_keypoints} keypoints, not {count}")
        self.backbone_name, self.method, self.domains = backbone, method, dict(domains)
        self.output_keypoints = OUTPUT_KEYPOINTS  # channel names of ``predict`` (read by pose.topdown)
        if backbone == "mspn":
            if intermediate_skip:
                raise ValueError("intermediate_skip applies to ResNet backbones (MSPN supervises every stage)")
            self.backbone = MSPNBackbone(num_stages)
            self.heads = nn.ModuleDict({d: MSPNHead(num_stages, k) for d, k in domains.items()})
        elif backbone.startswith("resnet") and backbone[6:].isdigit():
            self.backbone = ResNetDeconv(int(backbone[6:]), len(MERGED_KEYPOINTS) if intermediate_skip else 0)
            self.heads = nn.ModuleDict({d: nn.Conv2d(DECONV_CHANNELS, k, 1) for d, k in domains.items()})
        else:
            raise ValueError(f"unknown MDPN backbone {backbone!r}: use resnet50, resnet101, resnet152 or mspn")
        self._merged_index = self._merged_indices(domains) if intermediate_skip else {}

    @staticmethod
    def _merged_indices(domains: Mapping[str, int]) -> dict[str, list[int]]:
        unknown = [d for d in domains if d not in DOMAIN_SKELETONS]
        if unknown:
            raise ValueError(f"intermediate_skip needs known keypoint sets; unknown domains {unknown}")
        return {d: [MERGED_KEYPOINTS.index(n) for n in canonical_keypoints(DOMAIN_SKELETONS[d])] for d in domains}

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        if self.backbone_name == "mspn":
            feats = self.backbone(x)
            return {d: [m for stage in head(feats) for m in stage] for d, head in self.heads.items()}
        feat, inter = self.backbone(x)
        inter = None if inter is None else upsample_to(inter, feat.shape[-2:])
        out = {}
        for domain, head in self.heads.items():
            out[domain] = [head(feat)] if inter is None else [inter[:, self._merged_index[domain]], head(feat)]
        return out

    def final_heatmaps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Only each domain's final heatmaps (B, K_d, H/4, W/4)."""
        if self.backbone_name == "mspn":
            feats = self.backbone(x)
            return {d: head.final(feats) for d, head in self.heads.items()}
        feat, _ = self.backbone(x)
        return {d: head(feat) for d, head in self.heads.items()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 19, H/4, W/4): COCO-17 + head_top + neck, combined by ``self.method``."""
        return combine_heatmaps(self.final_heatmaps(x), self.method)

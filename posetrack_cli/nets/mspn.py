"""MSPN: Multi-Stage Pose Network (Li et al. 2019, arXiv:1901.00148), checkpoint-compatible with MMPose 1.x.

Structure (MSPN.md section 1): a ResNet stem, then ``num_stages`` single-stage modules, each a ResNet-50 down path
(layers 1-4, 1/4..1/32) and a GlobalNet up path (units up1..up4, 1/32..1/4, 256 channels). Non-final stages hand two
skip features per scale (cross-stage feature aggregation) and a 64-channel ``cross_conv`` map to the next stage.
The head predicts K heatmaps at every unit of every stage (coarse -> fine) and upsamples them to 1/4 of the input.

``MSPN().state_dict()`` keys and shapes equal MMPose 1.3.2's ``TopdownPoseEstimator`` with the
``td-hm_{n}xmspn50_8xb32-210e_coco-256x192`` configs (tests/data/mmpose_mspn{1,2,3,4}_keys.txt).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from posetrack_cli.nets.resnet import RESNET_LAYERS, Bottleneck, ConvBN, make_res_layer

NUM_UNITS = 4  # MSPN.md: four up-path units per stage (1/32, 1/16, 1/8, 1/4)


def upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize with ``align_corners=True`` (both MSPN code bases); a no-op when the size already fits."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class ResNetTop(nn.Module):
    """Stem: conv 7x7/2 + BN + ReLU, max-pool 3x3/2 (keys ``top.0.conv``, ``top.0.bn``)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.top = nn.Sequential(ConvBN(3, channels, 7, 2, 3), nn.MaxPool2d(3, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(x)


class DownsampleModule(nn.Module):
    """ResNet body ``layer1..layer4``; stages after the first add the previous stage's skips at every scale."""

    def __init__(self, num_blocks: Sequence[int], in_channels: int = 64) -> None:
        super().__init__()
        channels = in_channels
        for i, blocks in enumerate(num_blocks):
            mid = in_channels * 2**i
            self.add_module(f"layer{i + 1}", make_res_layer(channels, mid, blocks, stride=1 if i == 0 else 2))
            channels = mid * Bottleneck.expansion

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor] | None) -> list[torch.Tensor]:
        """-> features coarse -> fine (1/32 .. 1/4); ``skips`` (coarse -> fine) are summed in when given."""
        outs = []
        for i in range(NUM_UNITS):
            x = getattr(self, f"layer{i + 1}")(x)
            if skips is not None:
                x = x + skips[NUM_UNITS - 1 - i]
            outs.append(x)
        return outs[::-1]


class UpsampleUnit(nn.Module):
    """One GlobalNet unit: ``out = ReLU(in_skip(x) + up_conv(bilinear_up(previous out)))`` plus the skips."""

    def __init__(self, index: int, in_channels: int, unit_channels: int, gen_skip: bool, gen_cross_conv: bool,
                 cross_channels: int) -> None:
        super().__init__()
        self.index = index
        self.in_skip = ConvBN(in_channels, unit_channels, relu=False)
        if index > 0:
            self.up_conv = ConvBN(unit_channels, unit_channels, relu=False)
        if gen_skip:
            self.out_skip1 = ConvBN(in_channels, in_channels)
            self.out_skip2 = ConvBN(unit_channels, in_channels)
        if gen_cross_conv and index == NUM_UNITS - 1:
            self.cross_conv = ConvBN(unit_channels, cross_channels)

    def forward(self, x: torch.Tensor, up_x: torch.Tensor | None):
        """-> (out, skip or None, cross_conv output or None); skip = out_skip1(x) + out_skip2(out)."""
        out = self.in_skip(x)
        if up_x is not None:
            out = out + self.up_conv(upsample_to(up_x, x.shape[-2:]))
        out = F.relu(out, inplace=True)
        skip = self.out_skip1(x) + self.out_skip2(out) if hasattr(self, "out_skip1") else None
        cross = self.cross_conv(out) if hasattr(self, "cross_conv") else None
        return out, skip, cross


class UpsampleModule(nn.Module):
    """Units ``up1..up4`` from 1/32 to 1/4; input channels 2048, 1024, 512, 256 for a ResNet-50 body."""

    def __init__(self, unit_channels: int, in_channels: int, gen_skip: bool, gen_cross_conv: bool) -> None:
        super().__init__()
        for i in range(NUM_UNITS):
            channels = Bottleneck.expansion * in_channels * 2 ** (NUM_UNITS - 1 - i)
            self.add_module(f"up{i + 1}", UpsampleUnit(i, channels, unit_channels, gen_skip, gen_cross_conv,
                                                       in_channels))

    def forward(self, feats: list[torch.Tensor]):
        """coarse -> fine features -> (unit outputs coarse -> fine, skips coarse -> fine or None, cross_conv)."""
        outs, skips, up_x, cross = [], [], None, None
        for i in range(NUM_UNITS):
            up_x, skip, cross = getattr(self, f"up{i + 1}")(feats[i], up_x)
            outs.append(up_x)
            skips.append(skip)
        return outs, (skips if skips[0] is not None else None), cross


class SingleStageNetwork(nn.Module):
    def __init__(self, num_blocks: Sequence[int], unit_channels: int, in_channels: int, last: bool) -> None:
        super().__init__()
        self.downsample = DownsampleModule(num_blocks, in_channels)
        self.upsample = UpsampleModule(unit_channels, in_channels, gen_skip=not last, gen_cross_conv=not last)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor] | None):
        return self.upsample(self.downsample(x, skips))


class MSPNBackbone(nn.Module):
    """Stem plus ``num_stages`` single-stage modules; returns per stage the 4 unit features (coarse -> fine)."""

    def __init__(self, num_stages: int = 2, num_blocks: Sequence[int] = RESNET_LAYERS[50],
                 unit_channels: int = 256, base_channels: int = 64) -> None:
        super().__init__()
        if num_stages < 1 or len(num_blocks) != NUM_UNITS:
            raise ValueError(f"MSPN needs num_stages >= 1 and {NUM_UNITS} ResNet layers, got {num_stages}, "
                             f"{tuple(num_blocks)}")
        self.num_stages = num_stages
        self.top = ResNetTop(base_channels)
        self.multi_stage_mspn = nn.ModuleList(
            SingleStageNetwork(num_blocks, unit_channels, base_channels, last=s == num_stages - 1)
            for s in range(num_stages))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        x, skips, feats = self.top(x), None, []
        for stage in self.multi_stage_mspn:
            outs, skips, x = stage(x, skips)
            feats.append(outs)
        return feats


class PredictHeatmap(nn.Module):
    """conv1x1 + BN + ReLU, conv3x3 -> K + BN (keys ``conv_layers.{0,1}``), then bilinear to the output size."""

    def __init__(self, unit_channels: int, num_keypoints: int) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(ConvBN(unit_channels, unit_channels),
                                         ConvBN(unit_channels, num_keypoints, 3, padding=1, relu=False))

    def forward(self, feature: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return upsample_to(self.conv_layers(feature), size)


class MSPNHead(nn.Module):
    """One ``PredictHeatmap`` per unit per stage (``predict_layers.{stage * 4 + unit}``)."""

    def __init__(self, num_stages: int, num_keypoints: int, unit_channels: int = 256) -> None:
        super().__init__()
        self.predict_layers = nn.ModuleList(PredictHeatmap(unit_channels, num_keypoints)
                                            for _ in range(num_stages * NUM_UNITS))

    def forward(self, feats: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        """Unit features per stage -> K heatmaps per unit per stage, all at the finest unit's size (1/4)."""
        size = feats[-1][-1].shape[-2:]
        return [[self.predict_layers[s * NUM_UNITS + u](f, size) for u, f in enumerate(stage)]
                for s, stage in enumerate(feats)]

    def final(self, feats: list[list[torch.Tensor]]) -> torch.Tensor:
        """Only the last stage's finest map (what inference uses)."""
        return self.predict_layers[-1](feats[-1][-1], feats[-1][-1].shape[-2:])


class MSPN(nn.Module):
    """MSPN with ``num_stages`` ResNet-50 stages and ``num_keypoints`` heatmaps.

    ``forward(x)`` for ``x`` (B, 3, H, W) returns one list per stage of 4 heatmaps (coarse -> fine), each
    (B, K, H/4, W/4) on the 0..255 target scale; ``predict(x)`` returns only the final one (inference).
    ``num_blocks``, ``unit_channels`` and ``base_channels`` exist for small test networks; the defaults are MSPN-50's.
    """

    def __init__(self, num_stages: int = 2, num_keypoints: int = 17, *,
                 num_blocks: Sequence[int] = RESNET_LAYERS[50], unit_channels: int = 256,
                 base_channels: int = 64) -> None:
        super().__init__()
        self.num_stages = num_stages
        self.num_keypoints = num_keypoints
        self.backbone = MSPNBackbone(num_stages, num_blocks, unit_channels, base_channels)
        self.head = MSPNHead(num_stages, num_keypoints, unit_channels)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        return self.head(self.backbone(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> final heatmaps (B, K, H/4, W/4), skipping the intermediate predictions."""
        return self.head.final(self.backbone(x))

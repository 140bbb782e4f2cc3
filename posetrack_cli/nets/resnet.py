"""ResNet building blocks shared by MSPN and MDPN, and batch-norm folding for inference.

Attribute names reproduce the public checkpoints: ``ConvBN`` is MMCV's ``ConvModule`` (keys ``conv.*``, ``bn.*``,
convolution without bias); ``Bottleneck`` is the ResNet v1.5 block of MMPose and torchvision (keys ``conv1..3``,
``bn1..3``, ``downsample``; the stride sits on the 3x3 convolution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# He et al. 2016, Table 1: bottleneck blocks per layer for ResNet-50/101/152.
RESNET_LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class ConvBN(nn.Module):
    """Convolution (no bias) -> BatchNorm -> optional ReLU; keys ``conv.weight`` and ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = relu  # plain flag: no state-dict entry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x, inplace=True) if self.relu else x


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4): 1x1 -> 3x3 (stride) -> 1x1, plus the identity or a projection."""

    expansion = 4

    def __init__(self, in_channels: int, mid_channels: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        out_channels = mid_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity, inplace=True)


def make_res_layer(in_channels: int, mid_channels: int, blocks: int, stride: int = 1,
                   torchvision_names: bool = False) -> nn.Sequential:
    """One ResNet layer of ``blocks`` bottlenecks; the first gets a 1x1 projection when shape or stride change.

    The projection's keys are ``downsample.conv/bn`` (MMPose MSPN) or ``downsample.0/1`` (torchvision, so that
    ImageNet checkpoints load into the MDPN ResNet backbone unchanged).
    """
    out_channels = mid_channels * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        if torchvision_names:
            downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                       nn.BatchNorm2d(out_channels))
        else:
            downsample = ConvBN(in_channels, out_channels, 1, stride, relu=False)
    units = [Bottleneck(in_channels, mid_channels, stride, downsample)]
    units += [Bottleneck(out_channels, mid_channels) for _ in range(1, blocks)]
    return nn.Sequential(*units)


# ---------------------------------------------------------------------------------------------------- BN folding
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _conv_bn_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Children of ``module`` that form conv -> BN pairs in its forward: ``(conv, bn)``, ``(convN, bnN)`` and
    neighbours ``(i, i+1)`` of an ``nn.Sequential``. Only the layouts of this package are recognised."""
    children = dict(module.named_children())
    pairs = []
    for name, child in children.items():
        if not isinstance(child, _CONVS):
            continue
        if isinstance(module, nn.Sequential):
            bn_name = str(int(name) + 1)
        elif name.startswith("conv"):
            bn_name = "bn" + name[len("conv"):]
        else:
            continue
        bn = children.get(bn_name)
        out_channels = child.out_channels
        if isinstance(bn, nn.BatchNorm2d) and bn.num_features == out_channels:
            pairs.append((name, bn_name))
    return pairs


@torch.no_grad()
def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """conv' = BN(conv) in eval mode: W' = W * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps)."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    # Conv2d weights are (out, in/groups, kh, kw); ConvTranspose2d weights are (in, out/groups, kh, kw).
    shape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
    if isinstance(conv, nn.ConvTranspose2d) and conv.groups != 1:
        raise ValueError("folding BN into a grouped transposed convolution is not supported")
    weight = conv.weight.double() * scale.reshape(shape)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    new_bias = (bias - bn.running_mean.double()) * scale + bn.bias.double()
    conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=False)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a convolution into that convolution, in place.

    For inference only: the result computes the eval-mode network with fewer operations, but its ``state_dict``
    no longer matches the checkpoint layout (BN entries gone, conv biases added). Returns ``model``.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (BN running statistics are folded)")
    for module in list(model.modules()):
        for conv_name, bn_name in _conv_bn_pairs(module):
            _fold(getattr(module, conv_name), getattr(module, bn_name))
            setattr(module, bn_name, nn.Identity())
    return model

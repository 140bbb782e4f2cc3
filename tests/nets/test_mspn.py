"""MSPN: state-dict keys/shapes against MMPose 1.3.2's own dumps, output shapes, the spec's unit formulas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posetrack_cli.nets.mspn import MSPN, UpsampleUnit
from posetrack_cli.nets.resnet import fold_batchnorm

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = dict(num_blocks=(1, 1, 1, 1), unit_channels=16, base_channels=8)  # same topology, few channels


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference_keys(path: Path) -> tuple[list[tuple[str, tuple, str]], int]:
    """``name<TAB>shape<TAB>dtype`` lines of a key dump and the parameter count from its header."""
    rows, params = [], None
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            params = int(re.search(r"(\d+) params", line)[1])
            continue
        name, shape, dtype = line.split("\t")
        rows.append((name, tuple(int(v) for v in re.findall(r"\d+", shape)), dtype))
    return rows, params


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so that eval-mode equivalences are really tested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_state_dict_equals_mmpose_key_list(stages):
    rows, params = reference_keys(DATA / f"mmpose_mspn{stages}_keys.txt")
    with torch.device("meta"):
        model = MSPN(stages)
    ours = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    assert ours == rows  # same names, shapes, dtypes and order
    assert sum(p.numel() for p in model.parameters()) == params


def test_full_size_forward_shapes_256x192():
    model = MSPN(2).eval()
    with torch.inference_mode():
        x = torch.randn(1, 3, 256, 192)
        out = model(x)
        final = model.predict(x)
    assert len(out) == 2 and all(len(stage) == 4 for stage in out)
    assert all(tuple(m.shape) == (1, 17, 64, 48) for stage in out for m in stage)
    torch.testing.assert_close(final, out[-1][-1], rtol=0, atol=0)


@pytest.mark.parametrize("stages,keypoints", [(1, 17), (3, 16)])
def test_small_input_gives_quarter_resolution_maps(stages, keypoints):
    model = MSPN(stages, keypoints, **TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
    assert [len(s) for s in out] == [4] * stages
    assert all(tuple(m.shape) == (2, keypoints, 16, 12) for s in out for m in s)


def test_upsample_unit_follows_the_globalnet_formula():
    """out = ReLU(BN(conv1x1(x)) + BN(conv1x1(bilinear_up(prev)))); skip = ReLU(BN(conv(x))) + ReLU(BN(conv(out)))."""
    unit = randomize_bn(UpsampleUnit(2, 12, 8, gen_skip=True, gen_cross_conv=False, cross_channels=4)).eval()
    x, prev = torch.randn(1, 12, 6, 4), torch.randn(1, 8, 3, 2)

    def conv_bn(block, t):
        bn = block.bn
        y = F.conv2d(t, block.conv.weight)
        return (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps) \
            * bn.weight[:, None, None] + bn.bias[:, None, None]

    up = F.interpolate(prev, size=(6, 4), mode="bilinear", align_corners=True)
    expected = torch.relu(conv_bn(unit.in_skip, x) + conv_bn(unit.up_conv, up))
    expected_skip = torch.relu(conv_bn(unit.out_skip1, x)) + torch.relu(conv_bn(unit.out_skip2, expected))
    with torch.no_grad():
        out, skip, cross = unit(x, prev)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(skip, expected_skip)
    assert cross is None


def test_cross_stage_aggregation_feeds_the_next_stage():
    model = MSPN(2, **TINY)
    out = model(torch.randn(1, 3, 64, 48))
    stage0 = model.backbone.multi_stage_mspn[0]
    grads = torch.autograd.grad(out[-1][-1].sum(), [stage0.upsample.up2.out_skip1.conv.weight,
                                                     stage0.upsample.up4.cross_conv.conv.weight])
    assert all(g.abs().sum() > 0 for g in grads)
    assert not hasattr(model.backbone.multi_stage_mspn[1].upsample.up4, "cross_conv")  # last stage: no skips


def test_fold_batchnorm_keeps_the_eval_output():
    model = randomize_bn(MSPN(2, **TINY)).double().eval()
    x = torch.randn(2, 3, 64, 48, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
        fold_batchnorm(model)
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(sum(before, []), sum(after, [])):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_fold_batchnorm_refuses_training_mode():
    with pytest.raises(ValueError, match="eval"):
        fold_batchnorm(MSPN(1, **TINY))

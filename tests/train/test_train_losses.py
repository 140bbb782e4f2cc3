"""Loss values against hand-computed numbers, OHKM's choice, and the multi-domain gradient routing."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from train_data_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

from posetrack_cli.train.config import LossConfig
from posetrack_cli.train.losses import (heatmap_loss, keypoint_mse, mdpn_loss, mspn_loss, mspn_plan, ohkm_mse,
                                        ohkm_select, single_map_plan)


def const_maps(values, h=2, w=2) -> torch.Tensor:
    """(B, K) values -> (B, K, h, w) constant maps."""
    return torch.tensor(values, dtype=torch.float32)[:, :, None, None].expand(-1, -1, h, w).clone()


def test_mse_masks_prediction_and_target_mmpose_style():
    pred = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    target = torch.zeros_like(pred)
    # keypoint 1 masked: ((1^2 + 2^2) + 0 + 0) / 4 elements
    assert keypoint_mse(pred, target, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1.25)
    assert keypoint_mse(pred, target, torch.ones(1, 2)).item() == pytest.approx(30 / 4)


def test_ohkm_picks_the_hardest_annotated_keypoints():
    errors = [[0.5, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]
    pred, target = const_maps(errors), torch.zeros(1, 10, 2, 2)
    weight = torch.ones(1, 10)
    weight[0, 1] = 0  # the largest error is not annotated: never chosen
    losses = ((pred - target) * weight[:, :, None, None]).pow(2).mean(dim=(2, 3))
    assert sorted(ohkm_select(losses, 8)[0].tolist()) == [2, 3, 4, 5, 6, 7, 8, 9]
    expected = sum(e * e for e in [1, 2, 3, 4, 5, 6, 7, 8]) / 8  # 25.5
    assert ohkm_mse(pred, target, weight, 8).item() == pytest.approx(expected)
    # two samples: the batch mean of per-sample OHKM; fewer keypoints than topk keeps all of them
    two = ohkm_mse(const_maps([errors[0], [1.0] * 10]), torch.zeros(2, 10, 2, 2), torch.ones(2, 10), 8)
    assert two.item() == pytest.approx((sum(e * e for e in [2, 3, 4, 5, 6, 7, 8, 9]) / 8 + 1) / 2)
    assert ohkm_mse(const_maps([[2.0, 4.0]]), torch.zeros(1, 2, 2, 2), torch.ones(1, 2), 8).item() == pytest.approx(10)


def test_mspn_loss_weights_units_and_switches_ohkm():
    # 2 stages x 4 units, K = 10, zero targets, unit u of stage s predicts the constant (s + 1) * (u + 1)
    k = 10
    outputs = [[const_maps([[float((s + 1) * (u + 1))] * k]) for u in range(4)] for s in range(2)]
    finest = [float(i) for i in range(k)]
    outputs[1][3] = const_maps([finest])  # per-keypoint errors 0..9 on the last stage's finest unit
    targets, weights = torch.zeros(1, 5, k, 2, 2), torch.ones(1, k)
    plan = mspn_plan([[0, 1, 2, 3], [1, 2, 3, 4]], 0.25)
    assert [p.weight for p in plan] == [0.25, 0.25, 0.25, 1.0] * 2
    assert [p.finest for p in plan] == [False, False, False, True] * 2
    stage0 = 0.25 * (1 + 4 + 9) + 16  # units 0-2 MSE x 0.25, unit 3 (all errors 4) x 1
    stage1_mse = 0.25 * (4 + 16 + 36) + sum(e * e for e in finest) / k
    stage1_ohkm = 0.25 * (4 + 16 + 36) + sum(e * e for e in range(2, 10)) / 8
    loss, _ = mspn_loss(outputs, targets, weights, plan, ohkm=False, cfg=LossConfig())
    assert loss.item() == pytest.approx(stage0 + stage1_mse)
    loss, parts = mspn_loss(outputs, targets, weights, plan, ohkm=True, cfg=LossConfig())
    assert loss.item() == pytest.approx(stage0 + stage1_ohkm)
    assert parts == pytest.approx({"stage0": stage0, "stage1": stage1_ohkm})


def test_unannotated_joints_get_no_gradient_but_occluded_ones_do():
    pred = torch.full((1, 3, 2, 2), 5.0, requires_grad=True)
    weights = torch.tensor([[1.0, 1.0, 0.0]])  # from visibility 2, 1 (occluded: annotated), 0
    heatmap_loss([pred], torch.zeros(1, 1, 3, 2, 2), weights, single_map_plan(1), False, 8).backward()
    assert (pred.grad[0, 2] == 0).all() and (pred.grad[0, :2] != 0).all()


class ToyMultiDomain(nn.Module):
    """Shared conv + one 1x1 head per domain (the MDPN forward contract)."""

    def __init__(self, domains: dict[str, int]):
        super().__init__()
        self.backbone = nn.Conv2d(1, 4, 1)
        self.heads = nn.ModuleDict({d: nn.Conv2d(4, k, 1) for d, k in domains.items()})

    def forward(self, x):
        f = self.backbone(x)
        return {d: [h(f)] for d, h in self.heads.items()}


def mdpn_batch(domain_index, kmax=4):
    b = len(domain_index)
    torch.manual_seed(0)
    return (torch.randn(b, 1, 3, 3), torch.rand(b, 1, kmax, 3, 3) * 255, torch.ones(b, kmax),
            torch.tensor(domain_index))


def test_mdpn_loss_value_is_per_domain_share():
    domains = ("a", "b")
    outputs = {"a": [const_maps([[1.0, 1.0, 1.0]] * 3)], "b": [const_maps([[2.0, 2.0]] * 3)]}
    targets, weights = torch.zeros(3, 1, 3, 2, 2), torch.ones(3, 3)
    # rows 0, 1 -> domain a (loss 1), row 2 -> domain b (loss 4, only its 2 keypoints): (2 x 1 + 1 x 4) / 3
    loss, parts = mdpn_loss(outputs, targets, weights, torch.tensor([0, 0, 1]), domains, single_map_plan(1), False,
                            LossConfig())
    assert loss.item() == pytest.approx(2.0) and parts == {"a": 1.0, "b": 4.0}


def test_mdpn_sample_trains_only_its_own_head():
    model = ToyMultiDomain({"coco": 4, "mpii": 3, "posetrack": 2})
    domains = ("coco", "mpii", "posetrack")
    images, targets, weights, index = mdpn_batch([0, 0])
    loss, _ = mdpn_loss(model(images), targets, weights, index, domains, single_map_plan(1), True, LossConfig())
    loss.backward()
    assert model.heads["coco"].weight.grad is not None and model.backbone.weight.grad is not None
    assert model.heads["mpii"].weight.grad is None and model.heads["posetrack"].weight.grad is None

    # mixed batch: each head's gradient equals the one from its own samples alone (scaled by their share)
    images, targets, weights, index = mdpn_batch([0, 1, 1, 2])
    model.zero_grad(set_to_none=True)
    mdpn_loss(model(images), targets, weights, index, domains, single_map_plan(1), False, LossConfig())[0].backward()
    mixed = {d: model.heads[d].weight.grad.clone() for d in domains}
    for d, rows in (("coco", [0]), ("mpii", [1, 2]), ("posetrack", [3])):
        model.zero_grad(set_to_none=True)
        sub = torch.tensor(rows)
        alone, _ = mdpn_loss(model(images[sub]), targets[sub], weights[sub], index[sub], domains, single_map_plan(1),
                             False, LossConfig())
        (alone * len(rows) / 4).backward()
        torch.testing.assert_close(model.heads[d].weight.grad, mixed[d])
        assert all(model.heads[o].weight.grad is None for o in domains if o != d)


def test_real_mdpn_heads_get_gradient_only_from_their_domain():
    from posetrack_cli.nets.mdpn import MDPN

    model = MDPN("resnet50")
    domains = ("coco", "mpii", "posetrack")
    images = torch.randn(2, 3, 32, 32)  # ResNet-deconv sides are multiples of 32
    targets, weights = torch.rand(2, 1, 17, 8, 8) * 255, torch.ones(2, 17)
    loss, _ = mdpn_loss(model(images), targets, weights, torch.tensor([1, 1]), domains, single_map_plan(1), False,
                        LossConfig())
    loss.backward()
    assert model.heads["mpii"].weight.grad.abs().sum() > 0
    assert model.heads["coco"].weight.grad is None and model.heads["posetrack"].weight.grad is None
    assert model.backbone.conv1.weight.grad is not None

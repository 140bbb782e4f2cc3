"""ImageNet initialisation into MSPN's stem and every stage's down path, and into the MDPN ResNet."""

from __future__ import annotations

import logging

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from train_data_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

from posetrack_cli.errors import WeightsError
from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.train.config import LossConfig, ModelConfig, TargetConfig
from posetrack_cli.train.model import (build_model, find_imagenet_weights, init_from_imagenet, initialise,
                                        supervision_plan)
from posetrack_cli.train.targets import TargetBuilder


def tiny_mspn(stages: int = 2) -> MSPN:
    return MSPN(stages, 3, num_blocks=(1, 1, 1, 1), unit_channels=16)


def tiny_resnet_state() -> dict:
    torch.manual_seed(0)
    return ResNet(Bottleneck, [1, 1, 1, 1]).state_dict()


def test_imagenet_goes_into_the_stem_and_every_stage():
    model = tiny_mspn(2)
    head_before = model.head.state_dict()["predict_layers.0.conv_layers.0.conv.weight"].clone()
    state = tiny_resnet_state()
    count = init_from_imagenet(model, state)
    own = model.state_dict()
    torch.testing.assert_close(own["backbone.top.top.0.conv.weight"], state["conv1.weight"])
    torch.testing.assert_close(own["backbone.top.top.0.bn.running_var"], state["bn1.running_var"])
    for s in (0, 1):
        down = f"backbone.multi_stage_mspn.{s}.downsample."
        torch.testing.assert_close(own[down + "layer3.0.conv2.weight"], state["layer3.0.conv2.weight"])
        torch.testing.assert_close(own[down + "layer4.0.downsample.conv.weight"], state["layer4.0.downsample.0.weight"])
        torch.testing.assert_close(own[down + "layer1.0.downsample.bn.bias"], state["layer1.0.downsample.1.bias"])
    torch.testing.assert_close(own["head.predict_layers.0.conv_layers.0.conv.weight"], head_before)
    stem = 2 + 3  # conv1 + bn1 (weight, bias, mean, var)
    body = len([k for k in state if k.startswith("layer") and "num_batches" not in k])
    assert count == stem + 2 * body


def test_wrong_backbone_is_refused():
    with pytest.raises(WeightsError, match="do not fit"):
        init_from_imagenet(tiny_mspn(1), ResNet(BasicBlock, [1, 1, 1, 1]).state_dict())
    partial = {k: v for k, v in tiny_resnet_state().items() if not k.startswith("layer4")}
    with pytest.raises(WeightsError, match="missing"):
        init_from_imagenet(tiny_mspn(1), partial)


def test_mdpn_resnet_takes_torchvision_names():
    from torchvision.models import resnet50

    from posetrack_cli.nets.mdpn import MDPN

    model = MDPN("resnet50")
    state = resnet50().state_dict()
    init_from_imagenet(model, state)
    torch.testing.assert_close(model.backbone.layer2[0].downsample[0].weight, state["layer2.0.downsample.0.weight"])


def test_initialise_from_file_or_random_with_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model = tiny_mspn(1)
    with caplog.at_level(logging.WARNING):
        assert initialise(model, ModelConfig()) == "random"
    assert "random weights" in caplog.text
    path = tmp_path / "resnet.pth"
    torch.save(tiny_resnet_state(), path)
    assert initialise(model, ModelConfig(init_weights=str(path))).startswith("imagenet")
    torch.testing.assert_close(model.backbone.top.top[0].conv.weight, tiny_resnet_state()["conv1.weight"])
    with pytest.raises(WeightsError, match="not found"):
        initialise(model, ModelConfig(init_weights=str(tmp_path / "nope.pth")))


def test_mspn_size_from_the_config(tmp_path, monkeypatch):
    small = ModelConfig(num_stages=1, num_blocks=(1, 2, 1, 1), base_channels=8, unit_channels=16)
    state = build_model(small, {"main": 5}).state_dict()
    assert state["backbone.top.top.0.conv.weight"].shape == (8, 3, 7, 7)  # stem: base_channels
    layer2 = "backbone.multi_stage_mspn.0.downsample.layer2"
    assert {k.split(".")[5] for k in state if k.startswith(layer2 + ".")} == {"0", "1"}  # 2 blocks
    assert state[layer2 + ".0.conv1.weight"].shape == (16, 32, 1, 1)  # 8 x 2^1 wide, after 8 x 4 channels
    assert state["head.predict_layers.0.conv_layers.1.conv.weight"].shape == (5, 16, 3, 3)  # unit_channels -> K
    default = build_model(ModelConfig(num_stages=1), {"main": 17}).state_dict()
    assert default["backbone.top.top.0.conv.weight"].shape == (64, 3, 7, 7)  # MSPN-50
    assert default["head.predict_layers.0.conv_layers.1.conv.weight"].shape == (17, 256, 3, 3)
    # a cached torchvision ResNet-50 initialises MSPN-50 but is not offered to a smaller MSPN
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert find_imagenet_weights(ModelConfig()) == cached and find_imagenet_weights(small) is None


def test_supervision_plans():
    mspn = supervision_plan(ModelConfig(num_stages=2), TargetBuilder(TargetConfig(), (192, 256), (48, 64), 2),
                            LossConfig())
    assert [p.map_index for p in mspn] == [0, 1, 2, 3, 1, 2, 3, 4]
    mdpn = supervision_plan(ModelConfig(kind="mdpn", intermediate_skip=True),
                            TargetBuilder(TargetConfig(kind="gaussian"), (192, 256), (48, 64)), LossConfig())
    assert [(p.map_index, p.weight, p.finest) for p in mdpn] == [(0, 1.0, False), (0, 1.0, True)]

"""MDPN: backbones, per-domain outputs, the intermediate skip, and prediction methods A and B by hand."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from posetrack_cli.nets.checkpoint import load_checkpoint
from posetrack_cli.nets.mdpn import MDPN, MERGED_KEYPOINTS, OUTPUT_KEYPOINTS, combine_heatmaps
from posetrack_cli.nets.resnet import fold_batchnorm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_resnet_backbone_keys_are_torchvisions():
    """ImageNet checkpoints (torchvision layout) fit the ResNet body without renaming (paper: ImageNet init)."""
    for depth in (50, 152):
        with torch.device("meta"):
            tv = torchvision.models.__dict__[f"resnet{depth}"]().state_dict()
            ours = MDPN(f"resnet{depth}").state_dict()
        body = {k[len("backbone."):]: tuple(v.shape) for k, v in ours.items()
                if k.startswith("backbone.") and not k.startswith("backbone.deconv_layers.")}
        assert body == {k: tuple(v.shape) for k, v in tv.items() if not k.startswith("fc.")}


def test_resnet50_outputs_per_domain():
    model = MDPN("resnet50").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 32))
        combined = model.predict(torch.randn(1, 3, 64, 32))
    assert {d: [tuple(m.shape) for m in maps] for d, maps in out.items()} == {
        "coco": [(1, 17, 16, 8)], "mpii": [(1, 16, 16, 8)], "posetrack": [(1, 15, 16, 8)]}
    assert tuple(combined.shape) == (1, 19, 16, 8)
    assert model.output_keypoints == OUTPUT_KEYPOINTS and len(MERGED_KEYPOINTS) == 21


def test_intermediate_prediction_is_shared_and_fed_back():
    model = MDPN("resnet50", intermediate_skip=True)
    out = model(torch.randn(1, 3, 64, 64))
    assert [len(maps) for maps in out.values()] == [2, 2, 2]
    coco, mpii, posetrack = out["coco"][0], out["mpii"][0], out["posetrack"][0]
    # left_shoulder is COCO 5, MPII 13, PoseTrack 9: the same merged channel
    torch.testing.assert_close(coco[:, 5], mpii[:, 13], rtol=0, atol=0)
    torch.testing.assert_close(coco[:, 5], posetrack[:, 9], rtol=0, atol=0)
    # MPII upper_neck (8) is PoseTrack neck (12)
    torch.testing.assert_close(mpii[:, 8], posetrack[:, 12], rtol=0, atol=0)
    grad = torch.autograd.grad(out["coco"][-1].sum(), model.backbone.intermediate[1].weight)[0]
    assert grad.abs().sum() > 0  # the final prediction depends on the intermediate one (the skip)


def test_mspn_backbone_supervises_every_unit():
    model = MDPN("mspn", {"coco": 17, "mpii": 16}, num_stages=1, method="A")
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 48))
        final = model.final_heatmaps(torch.zeros(1, 3, 64, 48))
    assert [tuple(m.shape) for m in out["coco"]] == [(1, 17, 16, 12)] * 4
    assert tuple(final["mpii"].shape) == (1, 16, 16, 12)
    assert sorted(k.split(".")[1] for k in model.state_dict() if k.startswith("heads.")
                  and k.endswith("predict_layers.0.conv_layers.0.conv.weight")) == ["coco", "mpii"]


def coded_heatmaps() -> dict[str, torch.Tensor]:
    """Final maps whose channel c of domain d is the constant 100 * (d + 1) + c."""
    sizes = {"coco": 17, "mpii": 16, "posetrack": 15}
    return {d: (100 * (i + 1) + torch.arange(k, dtype=torch.float32)).view(1, k, 1, 1).expand(1, k, 2, 2)
            for i, (d, k) in enumerate(sizes.items())}


def test_method_a_takes_coco_and_the_mpii_head():
    out = combine_heatmaps(coded_heatmaps(), "A")[0, :, 0, 0]
    assert out[:17].tolist() == [100.0 + c for c in range(17)]
    assert out[17:].tolist() == [209.0, 208.0]  # MPII head_top (9), upper_neck (8)


def test_method_b_votes_over_branches_that_predict_a_joint():
    out = combine_heatmaps(coded_heatmaps(), "B")[0, :, 0, 0]
    names = list(OUTPUT_KEYPOINTS)
    assert out[names.index("left_shoulder")] == pytest.approx((105 + 213 + 309) / 3)  # COCO 5, MPII 13, PT 9
    assert out[names.index("right_ankle")] == pytest.approx((116 + 200 + 300) / 3)  # COCO 16, MPII 0, PT 0
    assert out[names.index("nose")] == pytest.approx((100 + 313) / 2)  # COCO 0, PoseTrack 13
    assert out[names.index("left_eye")] == 101  # COCO only
    assert out[names.index("head_top")] == pytest.approx((209 + 314) / 2)  # MPII 9, PoseTrack 14
    assert out[names.index("neck")] == pytest.approx((208 + 312) / 2)  # MPII upper_neck 8, PoseTrack neck 12


def test_method_a_needs_the_mpii_branch():
    maps = coded_heatmaps()
    del maps["mpii"]
    with pytest.raises(ValueError, match="head_top"):
        combine_heatmaps(maps, "A")


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(backbone="vgg16"), "unknown MDPN backbone"),
    (dict(backbone="resnet34"), "depth 34 not supported"),
    (dict(domains={"coco": 16}), "coco has 17 keypoints"),
    (dict(backbone="mspn", intermediate_skip=True), "ResNet backbones"),
    (dict(domains={"coco": 17, "crowdpose": 14}, intermediate_skip=True), "unknown domains"),
    (dict(method="C"), "unknown MDPN prediction method"),
])
def test_invalid_configurations(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        MDPN(**kwargs)


def test_resnet_input_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        MDPN().eval()(torch.zeros(1, 3, 64, 48))


def test_trainer_checkpoint_round_trip_and_bn_folding_with_deconvolutions():
    source = MDPN("resnet50", intermediate_skip=True)
    with torch.no_grad():
        for m in source.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = MDPN("resnet50", intermediate_skip=True)
    load_checkpoint(model, {"state_dict": source.state_dict(), "meta": {}})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = source.eval().predict(x)
        torch.testing.assert_close(model.eval().predict(x), expected, rtol=0, atol=0)
        folded = fold_batchnorm(model).predict(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(folded, expected, rtol=1e-4, atol=1e-3)

"""TopDownEstimator: geometry end to end with an oracle network, batching, flip test, model cards, devices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from posetrack_cli import zoo
from posetrack_cli.config import PoseConfig
from posetrack_cli.errors import WeightsError
from posetrack_cli.nets.checkpoint import save_checkpoint
from posetrack_cli.nets.mdpn import OUTPUT_KEYPOINTS
from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.pose.topdown import TopDownEstimator, autocast_context, flip_permutation, fp16_weights, normalise
from posetrack_cli.records import COCO17, COCO17_HEAD, Detections

TINY = dict(num_blocks=(1, 1, 1, 1), unit_channels=16, base_channels=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


CARD = zoo.ModelCard(
    name="test-card", network="mspn", input_size=(192, 256), skeleton="coco17", color="rgb",
    mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
    weights=zoo.WeightsSpec(file="none.pth", sha256=None), network_args={"num_stages": 1, **TINY})


class BrightSpotNet(nn.Module):
    """Oracle: every keypoint channel is the crop's brightness pooled to 1/4 (a peak where the white dot is)."""

    def __init__(self, channels: int = 17, names=None) -> None:
        super().__init__()
        self.channels = channels
        if names is not None:
            self.output_keypoints = names

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        heat = F.avg_pool2d(x.mean(1, keepdim=True), 4)
        heat = heat - heat.amin((2, 3), keepdim=True)
        heat = 255 * heat / heat.amax((2, 3), keepdim=True).clamp_min(1e-6)
        return heat.expand(-1, self.channels, -1, -1)


def scene(dots, size=(480, 640)):
    frame = np.zeros((*size, 3), np.uint8)
    for x, y in dots:
        frame[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = 255  # 7x7 white square centred on (x, y)
    return frame


def detections(boxes, scores):
    return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32))


@pytest.mark.parametrize("flip_test", [True, False])
def test_keypoints_land_on_the_dot_in_frame_pixels(flip_test):
    frames = [scene([(150, 200), (420, 330)]), scene([(300, 120)])]
    dets = [detections([[90, 100, 230, 320], [380, 250, 470, 440]], [0.9, 0.6]),
            detections([[250, 40, 360, 230]], [0.7])]
    est = TopDownEstimator(BrightSpotNet(), CARD, PoseConfig(flip_test=flip_test, batch_size=2), "cpu")
    poses = est.estimate(frames, dets)
    truth = [[(150, 200), (420, 330)], [(300, 120)]]
    for p, d, t in zip(poses, dets, truth):
        np.testing.assert_array_equal(p.boxes_xyxy, d.boxes_xyxy)
        np.testing.assert_array_equal(p.box_scores, d.scores)
        err = np.linalg.norm(p.keypoints[:, :, :2] - np.asarray(t, np.float32)[:, None], axis=-1)
        assert err.max() < 3.0  # one crop pixel is ~1 frame pixel here; decoding error <= 0.56 x 4 crop px
        np.testing.assert_allclose(p.keypoints[:, :, 2], 255 / 255 + 0.5, atol=0.02)
        np.testing.assert_allclose(p.scores, d.scores * 1.5, atol=0.03)  # box score x mean keypoint score


def test_batch_size_and_frame_grouping_do_not_change_results():
    torch.manual_seed(0)
    net = MSPN(1, **TINY)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(3)]
    dets = [detections([[10, 10, 60, 100], [50, 20, 150, 110]], [0.9, 0.5]), Detections.empty(),
            detections([[0, 0, 80, 120]], [0.4])]
    together = TopDownEstimator(net, CARD, PoseConfig(batch_size=64), "cpu").estimate(frames, dets)
    one_by_one = TopDownEstimator(net, CARD, PoseConfig(batch_size=1), "cpu")
    separate = [one_by_one.estimate([f], [d])[0] for f, d in zip(frames, dets)]
    assert [len(p) for p in together] == [2, 0, 1]
    for a, b in zip(together, separate):
        np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=1e-5, atol=1e-4)


def test_no_people_and_mismatched_inputs():
    est = TopDownEstimator(BrightSpotNet(), CARD, PoseConfig(), "cpu")
    out = est.estimate([scene([])] * 2, [Detections.empty()] * 2)
    assert [len(p) for p in out] == [0, 0] and out[0].keypoints.shape == (0, 17, 3)
    with pytest.raises(ValueError, match="2 frames but 1"):
        est.estimate([scene([])] * 2, [Detections.empty()])


def test_rescore_switch_and_post_processing_switches():
    frame, dets = scene([(150, 200)]), detections([[90, 100, 230, 320]], [0.8])
    config = PoseConfig(rescore=False, blur_kernel=0, quarter_offset=False, flip_test=False)
    poses = TopDownEstimator(BrightSpotNet(), CARD, config, "cpu").estimate([frame], [dets])[0]
    np.testing.assert_array_equal(poses.scores, dets.scores)
    assert np.linalg.norm(poses.keypoints[0, :, :2] - [150, 200], axis=-1).max() < 3.0


class DimHeadNet(BrightSpotNet):
    """BrightSpotNet with MDPN's 19 outputs whose two head channels peak at 0.3 of the others."""

    def __init__(self) -> None:
        super().__init__(19, OUTPUT_KEYPOINTS)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        heat = super().predict(x).clone()
        heat[:, 17:] *= 0.3
        return heat


def test_mdpn_style_head_joints():
    est = TopDownEstimator(DimHeadNet(), CARD, PoseConfig(), "cpu")
    assert est.skeleton is COCO17_HEAD and est.extra_keypoints == ()  # head_top and neck are part of the poses
    (poses, extras), = est.estimate_with_extras([scene([(150, 200)])], [detections([[90, 100, 230, 320]], [1])])
    assert poses.skeleton is COCO17_HEAD and poses.keypoints.shape == (1, 19, 3) and extras.shape == (1, 0, 3)
    assert np.linalg.norm(poses.keypoints[0, 17:, :2] - [150, 200], axis=-1).max() < 3.0
    assert (poses.keypoints[0, 17:, 2] < 0.6 * poses.keypoints[0, :17, 2].min()).all()  # dimmer head joints
    # re-scoring averages the COCO-17 joints only (MSPN's definition): the same score as a 17-joint network's
    coco_only = TopDownEstimator(BrightSpotNet(), CARD, PoseConfig(), "cpu").estimate(
        [scene([(150, 200)])], [detections([[90, 100, 230, 320]], [1])])[0]
    np.testing.assert_allclose(poses.scores, coco_only.scores, rtol=1e-6)
    np.testing.assert_allclose(poses.keypoints[:, :17], coco_only.keypoints, atol=1e-4)


def test_flip_permutation_extends_over_extra_joints():
    names = COCO17.keypoints + ("head_top", "left_thing", "right_thing")
    perm = flip_permutation(names, COCO17)
    np.testing.assert_array_equal(perm[:17], COCO17.flip_permutation())
    assert perm[17:].tolist() == [17, 19, 18]


def test_normalisation_follows_the_card_channel_order():
    crops = torch.tensor([[[[10, 20, 30]]]], dtype=torch.uint8)  # one BGR pixel
    rgb = normalise(crops, CARD, torch.device("cpu"))[0, :, 0, 0]
    expected = (torch.tensor([30.0, 20.0, 10.0]) - torch.tensor(CARD.mean)) / torch.tensor(CARD.std)
    torch.testing.assert_close(rgb, expected)
    bgr_card = zoo.ModelCard(**{**CARD.__dict__, "color": "bgr", "network_args": dict(CARD.network_args)})
    torch.testing.assert_close(normalise(crops, bgr_card, torch.device("cpu"))[0, :, 0, 0],
                               (torch.tensor([10.0, 20.0, 30.0]) - torch.tensor(CARD.mean)) / torch.tensor(CARD.std))


def test_device_dependent_settings():
    """The CUDA branch is the same code with another device: only the autocast context differs."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available" on CPU-only machines
        ctx = autocast_context(cuda, amp=True)
    assert isinstance(ctx, torch.autocast) and ctx.device == "cuda" and ctx.fast_dtype == torch.float16
    assert not isinstance(autocast_context(cuda, amp=False), torch.autocast)
    assert not isinstance(autocast_context(cpu, amp=True), torch.autocast)
    est = TopDownEstimator(MSPN(1, **TINY), CARD, PoseConfig(amp=True), cpu)  # amp ignored on the CPU
    weight = est.net.backbone.top.top[0].conv.weight
    assert weight.device == cpu and weight.is_contiguous(memory_format=torch.channels_last)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in est.net.modules())  # BN folded
    crops = torch.zeros(2, 256, 192, 3, dtype=torch.uint8)
    assert normalise(crops, CARD, cpu, est.memory_format).is_contiguous(memory_format=torch.channels_last)
    plain = TopDownEstimator(MSPN(1, **TINY), CARD, PoseConfig(), cpu, optimize=False, channels_last=False)
    assert plain.memory_format == torch.contiguous_format
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain.net.modules())
    # fp16 weights: CUDA with amp (the default), not with --no-fp16, not with cuda_half=False, never on the CPU
    assert fp16_weights(cuda, amp=True) and fp16_weights("cuda:1", amp=True)
    assert not fp16_weights(cuda, amp=False) and not fp16_weights(cuda, amp=True, cuda_half=False)
    assert not fp16_weights(cpu, amp=True) and not est.half and est.net.backbone.top.top[0].conv.weight.dtype == \
        torch.float32


def test_fp16_weights_path_decodes_the_same_keypoints_in_float32():
    """The CUDA fp16-weights branch of ``heatmaps`` (fp16 input, no autocast, float32 heatmaps out), run here on
    the CPU's fp16 kernels by switching it on after construction: the oracle net puts the same keypoints."""
    frames = [scene([(150, 200), (420, 330)])]
    dets = [detections([[90, 100, 230, 320], [380, 250, 470, 440]], [0.9, 0.6])]
    plain = TopDownEstimator(BrightSpotNet(), CARD, PoseConfig(), "cpu")
    half = TopDownEstimator(BrightSpotNet(), CARD, PoseConfig(), "cpu")
    half.half = True
    seen = []
    half._predict = lambda x: seen.append(x.dtype) or BrightSpotNet().predict(x)
    heat = half.heatmaps(normalise(torch.zeros(1, 256, 192, 3, dtype=torch.uint8), CARD, torch.device("cpu")))
    assert heat.dtype == torch.float32 and seen == [torch.float16]
    a, b = plain.estimate(frames, dets)[0], half.estimate(frames, dets)[0]
    np.testing.assert_allclose(b.keypoints[..., :2], a.keypoints[..., :2], atol=0.5)  # fp16 step at 255: 0.125
    np.testing.assert_allclose(b.keypoints[..., 2], a.keypoints[..., 2], atol=0.01)


def write_card(folder, card_name, file_name, **weights):
    data = {"name": card_name, "network": "mspn", "network_args": {"num_stages": 1, "num_blocks": [1, 1, 1, 1],
                                                                   "unit_channels": 16, "base_channels": 8},
            "input_size": [192, 256], "skeleton": "coco17", "color": "rgb", "mean": list(CARD.mean),
            "std": list(CARD.std), "weights": {"file": file_name, "sha256": None, "layout": "mmpose1", **weights}}
    (folder / f"{card_name}.yaml").write_text(yaml.safe_dump(data))


def test_from_card_loads_weights_and_reports_missing_ones(tmp_path, monkeypatch):
    models, cache = tmp_path / "models", tmp_path / "cache"
    models.mkdir()
    monkeypatch.setattr(zoo, "models_dir", lambda: models)
    monkeypatch.setattr(zoo, "weights_dir", lambda: tmp_path / "weights")
    monkeypatch.setenv("POSETRACK_CACHE", str(cache))
    write_card(models, "tiny", "tiny.pth")
    with pytest.raises(WeightsError, match="tiny.pth.*--pose-weights PATH"):
        TopDownEstimator.from_card("tiny", PoseConfig(), "cpu")
    source = MSPN(1, **TINY)
    save_checkpoint(source, cache / "tiny.pth")
    est = TopDownEstimator.from_card("tiny", PoseConfig(), "cpu")
    assert est.name == "tiny" and est.skeleton is COCO17
    explicit = save_checkpoint(MSPN(1, **TINY), tmp_path / "mine.pth")
    other = TopDownEstimator.from_card("tiny", PoseConfig(weights=str(explicit)), "cpu")
    frame, dets = scene([(150, 200)]), detections([[90, 100, 230, 320]], [1])
    a, b = est.estimate([frame], [dets])[0], other.estimate([frame], [dets])[0]
    assert not np.allclose(a.keypoints, b.keypoints)  # the explicit file was used
    save_checkpoint(MSPN(2, **TINY), cache / "tiny.pth")
    with pytest.raises(WeightsError, match="2-stage MSPN"):
        TopDownEstimator.from_card("tiny", PoseConfig(), "cpu")


def test_optimised_path_computes_the_same_heatmaps():
    import copy

    torch.manual_seed(1)
    net = MSPN(1, **TINY).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    fast = TopDownEstimator(copy.deepcopy(net), CARD, PoseConfig(), "cpu")
    plain = TopDownEstimator(net, CARD, PoseConfig(), "cpu", optimize=False, channels_last=False)
    x = torch.randn(3, 3, 256, 192)
    with torch.inference_mode():
        torch.testing.assert_close(fast.heatmaps(x.contiguous(memory_format=torch.channels_last)),
                                   plain.heatmaps(x), rtol=1e-4, atol=1e-4)

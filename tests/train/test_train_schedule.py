"""The schedule as data: learning rates, OHKM switch, frozen parts, and the example recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from posetrack_cli.train.config import ConfigError, PhaseConfig, load_config, parse_config
from posetrack_cli.train.samples import MixedSampler
from posetrack_cli.train.schedule import apply_freeze, lr_at, ohkm_active, set_train_mode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "train"


def phase(**kw) -> PhaseConfig:
    return PhaseConfig(**{"name": "p", "datasets": ("d",), "epochs": 120, "lr": 1e-3, **kw})


def test_step_decay_and_warmup():
    p = phase(lr_steps=(90,), warmup_iters=500, warmup_ratio=0.001)
    assert lr_at(p, 0, 0, 1000) == pytest.approx(1e-6)  # 0.001 x lr at the first iteration
    assert lr_at(p, 0, 250, 1000) == pytest.approx(1e-3 * (0.001 + 0.999 * 0.5))
    assert lr_at(p, 0, 500, 1000) == pytest.approx(1e-3)
    assert lr_at(p, 89, 999, 1000) == pytest.approx(1e-3)
    assert lr_at(p, 90, 0, 1000) == pytest.approx(1e-4)  # MDPN: 1e-4 from epoch 90
    two = phase(lr=5e-3, lr_steps=(200, 170))
    assert [lr_at(two, e, 0, 10) for e in (169, 170, 200)] == pytest.approx([5e-3, 5e-4, 5e-5])


def test_linear_decay_to_zero_and_constant():
    p = phase(epochs=2, decay="linear", lr=5e-4)
    assert lr_at(p, 0, 0, 10) == pytest.approx(5e-4)
    assert lr_at(p, 1, 0, 10) == pytest.approx(2.5e-4)
    assert lr_at(p, 1, 9, 10) == pytest.approx(5e-4 / 20)
    assert lr_at(phase(decay="constant", lr_steps=(1,)), 5, 0, 10) == pytest.approx(1e-3)


def test_ohkm_switch():
    assert not ohkm_active(phase(ohkm_from_epoch=100), 99) and ohkm_active(phase(ohkm_from_epoch=100), 100)
    assert ohkm_active(phase(ohkm_from_epoch=0), 0)
    assert not ohkm_active(phase(ohkm_from_epoch=None), 1000)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
        self.heads = nn.ModuleDict({"coco": nn.Conv2d(2, 1, 1), "mpii": nn.Conv2d(2, 1, 1)})


def test_freeze_weights_and_batchnorm_statistics():
    model = Toy()
    trainable = apply_freeze(model, ("backbone.", "heads.coco."))
    assert [p.shape for p in trainable] == [p.shape for p in model.heads["mpii"].parameters()]
    assert not model.backbone[0].weight.requires_grad and model.heads["mpii"].weight.requires_grad
    set_train_mode(model, ("backbone.", "heads.coco."))
    assert not model.backbone[1].training and not model.heads["coco"].training and model.heads["mpii"].training
    before = model.backbone[1].running_mean.clone()
    model.backbone(torch.randn(4, 1, 3, 3))
    torch.testing.assert_close(model.backbone[1].running_mean, before)
    assert len(apply_freeze(model, ())) == 8  # unfrozen again for the next phase
    with pytest.raises(ConfigError, match="heads.cocoo"):
        apply_freeze(model, ("heads.cocoo.",))


def test_mixed_sampler_covers_everyone_once_and_is_reproducible():
    sampler = MixedSampler([3, 5], [1.0, 1.0], seed=7)
    keys = sampler.keys()
    assert sorted((s, p) for s, p, _ in keys) == [(0, 0), (0, 1), (0, 2)] + [(1, i) for i in range(5)]
    assert keys == MixedSampler([3, 5], [1.0, 1.0], seed=7).keys()  # same (seed, phase, epoch): same order
    sampler.set_epoch(1)
    assert sampler.keys() != keys
    half = MixedSampler([4, 10], [0.5, 2.0], seed=0).keys()
    assert sum(s == 0 for s, _, _ in half) == 2 and sum(s == 1 for s, _, _ in half) == 20
    ranks = [MixedSampler([3, 4], [1.0, 1.0], seed=1, rank=r, world_size=3).keys() for r in range(3)]
    assert [len(r) for r in ranks] == [3, 3, 3]  # 7 keys padded to 9
    assert {(s, p) for r in ranks for s, p, _ in r} == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3)}


def test_mdpn_example_is_the_papers_schedule():
    cfg = load_config(EXAMPLES / "mdpn_three_phase.yaml")
    joint, coco, heads = cfg.phases
    assert (joint.epochs, joint.lr, joint.lr_steps, joint.ohkm_from_epoch) == (120, 1e-3, (90,), 100)
    assert joint.datasets == ("coco_train", "mpii_train", "posetrack_train")
    assert (coco.epochs, coco.datasets, coco.frozen) == (15, ("coco_train",), ())
    assert (heads.epochs, heads.lr_steps, heads.frozen) == (20, (10,), ("backbone.", "heads.coco."))
    assert lr_at(heads, 10, 0, 1) == pytest.approx(1e-5)
    assert heads.datasets == ("mpii_train", "posetrack_train")
    assert cfg.model.kind == "mdpn" and cfg.target.kind == "gaussian" and cfg.target.sigma == 2.25
    assert [cfg.domain_of(n) for n in joint.datasets] == ["coco", "mpii", "posetrack"]


def test_mspn_examples_parse():
    cfg = load_config(EXAMPLES / "mspn_coco.yaml")
    (p,) = cfg.phases
    assert (p.epochs, p.lr, p.lr_steps, p.warmup_iters, p.batch_size) == (210, 5e-3, (170, 200), 500, 32)
    assert cfg.target.kernels_early == (15, 11, 9, 7) and cfg.target.kernels_last == (11, 9, 7, 5)
    assert cfg.augment.scale == (0.7, 1.35) and cfg.augment.rotation_deg == 45
    fine = load_config(EXAMPLES / "finetune_own_data.yaml")
    assert fine.model.num_stages == 1 and fine.model.pretrained.endswith(".pth")


BASE = {"model": {"kind": "mspn"},
        "datasets": {"a": {"format": "coco", "annotations": "a.json", "images": "img"}},
        "phases": [{"name": "p", "datasets": ["a"], "epochs": 1, "lr": 1e-3}]}


@pytest.mark.parametrize("change, message", [
    ({"model": {"kind": "mspn", "stages": 2}}, "unknown key(s) stages"),
    ({"phases": [{"name": "p", "datasets": ["b"], "epochs": 1, "lr": 1e-3}]}, "unknown dataset 'b'"),
    ({"phases": [{"name": "p", "datasets": ["a"], "epochs": 1}]}, "phases[0]"),
    ({"datasets": {"a": {"format": "lsp", "annotations": "a.json", "images": "i"}}}, "format 'lsp'"),
    ({"model": {"kind": "mdpn", "input_size": [200, 256]}}, "multiples of 32"),
    ({"validation": {"dataset": "a", "metric": "pck"}}, "validation.metric"),
    ({"model": {"kind": "mspn", "num_blocks": [1, 1, 1]}}, "model.num_blocks (1, 1, 1): four positive"),
    ({"model": {"kind": "mspn", "num_blocks": [1, 0, 1, 1]}}, "model.num_blocks (1, 0, 1, 1)"),
    ({"model": {"kind": "mspn", "unit_channels": 0}}, "model.unit_channels 0"),
    ({"model": {"kind": "mdpn", "base_channels": 16}}, "model.base_channels: sets the size of an MSPN"),
    ({"cpu_threads": -1}, "cpu_threads -1"),
])
def test_config_errors_are_one_line(change, message):
    with pytest.raises(ConfigError) as exc:
        parse_config({**BASE, **change})
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_config_tuples_and_defaults():
    cfg = parse_config(BASE)
    assert cfg.phases[0].datasets == ("a",) and cfg.model.input_size == (192, 256)
    assert cfg.model.heatmap_size == (48, 64) and cfg.loss.unit_weight == 0.25 and cfg.validation is None

"""End-to-end training runs on tiny data: 2-step MSPN smoke run through the CLI, exact resume, MDPN schedule."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from train_data_helpers import COCO_PERSON, one_torch_thread, write_coco, write_mpii, write_posetrack18  # noqa: F401

from posetrack_cli.cli.train import train_cmd
from posetrack_cli.nets.checkpoint import load_checkpoint, read_checkpoint
from posetrack_cli.train import loop
from posetrack_cli.train.config import parse_config
from posetrack_cli.train.state import load_training_checkpoint


@pytest.fixture(autouse=True)
def _no_imagenet_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def mspn_config(tmp_path, **phase) -> dict:
    ann, images = write_coco(tmp_path / "coco", [COCO_PERSON + [[i, 2 * i, 0]] * 17 for i in range(4)])
    return {
        "model": {"kind": "mspn", "num_stages": 1, "input_size": [48, 64]},
        "datasets": {"coco": {"format": "coco", "annotations": str(ann), "images": str(images)}},
        "phases": [{"name": "coco", "datasets": ["coco"], "epochs": 1, "batch_size": 2, "lr": 1e-3, **phase}],
        "validation": {"dataset": "coco", "batch_size": 2},
        "output_dir": str(tmp_path / "run"), "workers": 0, "log_every": 1,
    }


def test_mspn_two_step_run_through_the_cli(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(mspn_config(tmp_path)))
    result = CliRunner().invoke(train_cmd, [str(path), "--device", "cpu", "-q"], catch_exceptions=False)
    meta = read_checkpoint(tmp_path / "run" / "model_final.pth")["meta"]
    assert meta["skeleton"] == "coco17" and meta["input_size"] == [48, 64] and meta["phase"] == "coco"
    assert result.exit_code == 0 and "trained 2 steps" in result.output
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in train_rows)
    assert f"loss {train_rows[0]['loss']:.4g} (step 1) -> {train_rows[1]['loss']:.4g} (step 2)" in result.output
    (val,) = [r for r in records if r["kind"] == "val"]
    assert val["metric_name"] == "coco_ap" and 0.0 <= val["AP"] <= 1.0
    assert cv2.imread(str(run / "loss.png")).shape == (480, 800, 3)
    assert (run / "checkpoint_last.pth").is_file() and (run / "config.yaml").is_file()
    # the final file loads strictly as `posetrack run --pose mspn-1x50-coco --pose-weights FILE` loads it
    # (TopDownEstimator.from_card: card network + resolve_weights + load_checkpoint with the card's layout)
    from posetrack_cli.nets.registry import build_network
    from posetrack_cli.zoo import load_card, resolve_weights

    card = load_card("mspn-1x50-coco")
    path = resolve_weights(card, str(run / "model_final.pth"))
    assert load_checkpoint(build_network(card.network, card.network_args), path, card.weights.layout)["epoch"] == 1


def test_a_fresh_run_starts_a_fresh_log(tmp_path):
    data = {**mspn_config(tmp_path), "validation": None}
    data["model"].update(num_blocks=[1, 1, 1, 1], unit_channels=16, base_channels=8)  # small: the log is the point
    config = replace(parse_config(data), max_iters_per_epoch=1)
    loop.train(config, device="cpu")
    result = loop.train(config, device="cpu")  # the same output folder again, without resume
    records = [json.loads(line) for line in result.metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [1]


def test_cpu_threads_hold_while_training_and_are_restored(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(loop, "_run_phase", lambda *args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    for threads in (3, 0):
        config = parse_config({**mspn_config(tmp_path), "validation": None, "cpu_threads": threads})
        loop.train(config, device="cpu")
        assert torch.get_num_threads() == before
    assert seen == [3, before]  # 0 leaves PyTorch's setting alone


def test_resume_continues_exactly(tmp_path, monkeypatch):
    from posetrack_cli.nets.mspn import MSPN

    tiny = lambda cfg, keypoints: MSPN(1, 17, num_blocks=(1, 1, 1, 1), unit_channels=16, base_channels=16)  # noqa
    monkeypatch.setattr(loop, "build_model", tiny)
    base = replace(parse_config({**mspn_config(tmp_path, epochs=2), "validation": None}), max_iters_per_epoch=1)
    straight = loop.train(replace(base, output_dir=str(tmp_path / "a")), device="cpu")

    calls = {"n": 0}
    real_epoch = loop._run_epoch

    def crash_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_run_epoch", crash_in_second_epoch)
    interrupted = replace(base, output_dir=str(tmp_path / "b"))
    with pytest.raises(KeyboardInterrupt):
        loop.train(interrupted, device="cpu")
    last = load_training_checkpoint(tmp_path / "b" / "checkpoint_last.pth")
    assert last["scheduler"] == {"phase": 0, "epoch": 1, "step": 1}
    assert {"optimizer", "rng", "scaler", "state_dict", "meta"} <= set(last)
    assert last["meta"]["skeleton"] == "coco17" and last["meta"]["init"] == "random"
    monkeypatch.setattr(loop, "_run_epoch", real_epoch)
    resumed = loop.train(interrupted, device="cpu", resume=True)
    assert resumed.steps == straight.steps == 2
    a = read_checkpoint(straight.final_weights)["state_dict"]
    b = read_checkpoint(resumed.final_weights)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    from posetrack_cli.errors import PosetrackError
    from posetrack_cli.nets.mspn import MSPN

    monkeypatch.setattr(loop, "build_model", lambda cfg, k: MSPN(1, 17, num_blocks=(1, 1, 1, 1), unit_channels=8))
    monkeypatch.setattr(loop, "mspn_loss", lambda outputs, *a: (outputs[0][0].sum() * float("nan"), {}))
    config = replace(parse_config({**mspn_config(tmp_path), "validation": None}), max_iters_per_epoch=1)
    with pytest.raises(PosetrackError, match="loss became nan at step 1"):
        loop.train(config, device="cpu")


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    from posetrack_cli.errors import InputError

    with pytest.raises(InputError, match="checkpoint_last.pth does not exist"):
        loop.train(parse_config(mspn_config(tmp_path)), device="cpu", resume=True)


class ToyMDPN(torch.nn.Module):
    """The MDPN contract (``backbone.*``, ``heads.<domain>.*``, forward -> {domain: [final]}) at toy size; the real
    network's gradient routing is tested in test_train_losses.py."""

    def __init__(self, domains: dict[str, int]):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 4, 1), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.heads = torch.nn.ModuleDict({d: torch.nn.Conv2d(8, k, 1) for d, k in domains.items()})

    def forward(self, x):
        return {d: [m] for d, m in self.final_heatmaps(x).items()}

    def final_heatmaps(self, x):
        f = self.backbone(x)
        return {d: h(f) for d, h in self.heads.items()}


def test_mdpn_three_phases_freeze_and_validate(tmp_path, monkeypatch):
    coco, coco_images = write_coco(tmp_path / "coco")
    mpii, mpii_images = write_mpii(tmp_path / "mpii")
    pt, pt_root = write_posetrack18(tmp_path / "pt")
    ds = lambda fmt, a, i: {"format": fmt, "annotations": str(a), "images": str(i)}  # noqa: E731
    config = parse_config({
        "model": {"kind": "mdpn", "backbone": "resnet50", "input_size": [64, 64]},
        "datasets": {"coco": ds("coco", coco, coco_images), "mpii": ds("mpii", mpii, mpii_images),
                     "pt": ds("posetrack18", pt, pt_root)},
        "target": {"kind": "gaussian", "sigma": 1.0},
        "phases": [
            {"name": "joint", "datasets": ["coco", "mpii", "pt"], "epochs": 1, "batch_size": 6, "lr": 1e-3},
            {"name": "coco_ft", "datasets": ["coco"], "epochs": 1, "batch_size": 2, "lr": 1e-4},
            {"name": "heads_ft", "datasets": ["mpii", "pt"], "epochs": 1, "batch_size": 4, "lr": 1e-4,
             "frozen": ["backbone.", "heads.coco."]}],
        "validation": {"dataset": "pt", "batch_size": 2},
        "output_dir": str(tmp_path / "run"), "workers": 0, "max_iters_per_epoch": 1})
    built = {}
    monkeypatch.setattr(loop, "build_model", lambda cfg, kps: built.setdefault("model", ToyMDPN(kps)))
    snapshots = {}
    real_phase = loop._run_phase

    def record(run, index, start_epoch, ckpt):
        snapshots[index] = {k: v.clone() for k, v in loop.unwrap(run.model).state_dict().items()}
        real_phase(run, index, start_epoch, ckpt)

    monkeypatch.setattr(loop, "_run_phase", record)
    result = loop.train(config, device="cpu")
    final = read_checkpoint(result.final_weights)["state_dict"]
    before = snapshots[2]  # entering the heads fine-tuning phase
    for key in final:
        same = torch.equal(final[key], before[key])
        if key.startswith(("backbone.", "heads.coco.")):
            assert same, f"{key} changed while frozen"
    assert set(built["model"].heads) == {"coco", "mpii", "posetrack"}
    assert {k: h.out_channels for k, h in built["model"].heads.items()} == {"coco": 17, "mpii": 16, "posetrack": 15}
    assert not torch.equal(final["heads.mpii.weight"], before["heads.mpii.weight"])
    assert not torch.equal(final["heads.posetrack.weight"], before["heads.posetrack.weight"])
    # phase 2 trains on COCO only: the other heads do not move there
    torch.testing.assert_close(snapshots[2]["heads.mpii.weight"], snapshots[1]["heads.mpii.weight"])
    assert result.last_validation["metric_name"] == "posetrack_map"
    assert 0.0 <= result.last_validation["mAP"] <= 100.0
    meta = load_checkpoint(ToyMDPN({"coco": 17, "mpii": 16, "posetrack": 15}), result.final_weights)
    assert meta["keypoints"]["posetrack"][-1] == "head_top" and meta["model"] == "mdpn"

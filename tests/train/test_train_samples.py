"""Training items of mixed keypoint sets, the metrics log, the loss plot and the checkpoint RNG state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from train_data_helpers import write_coco, write_mpii

from posetrack_cli.cli.train import train_cmd
from posetrack_cli.train.config import AugmentConfig, ConfigError, TargetConfig
from posetrack_cli.train.datasets import read_coco, read_mpii
from posetrack_cli.train.samples import TrainSamples
from posetrack_cli.train.state import MetricsLog, draw_loss_plot, rng_state, set_rng_state, write_loss_plot
from posetrack_cli.train.targets import TargetBuilder

INPUT = (48, 64)


def test_mixed_items_pad_to_the_largest_keypoint_set(tmp_path):
    coco = read_coco(*write_coco(tmp_path / "coco"))
    mpii = read_mpii(*write_mpii(tmp_path / "mpii"))
    builder = TargetBuilder(TargetConfig(), INPUT, (12, 16), num_stages=2)
    samples = TrainSamples([coco, mpii], [0, 1], builder, AugmentConfig(), INPUT)
    a, b = samples[(0, 0, 5)], samples[(1, 1, 5)]
    assert a["image"].shape == (3, 64, 48) and a["targets"].shape == (5, 17, 16, 12)
    assert b["targets"].shape == (5, 17, 16, 12) and b["weights"][16] == 0 and (b["targets"][:, 16] == 0).all()
    assert int(a["domain"]) == 0 and int(b["domain"]) == 1 and b["index"].tolist() == [1, 1]
    again = samples[(1, 1, 5)]
    torch.testing.assert_close(again["image"], b["image"])  # the key's seed fixes the augmentation
    assert not torch.equal(samples[(1, 1, 6)]["image"], b["image"])


def test_metrics_log_appends_and_plot_is_drawn(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    assert write_loss_plot(log.read(), tmp_path / "loss.png") is None  # nothing to draw
    for step, loss in enumerate([4.0, 2.0, 1.0], start=1):
        log.write({"kind": "train", "step": step, "loss": loss})
    log.write({"kind": "val", "step": 3, "metric": 0.5})
    assert [r["loss"] for r in log.read() if r["kind"] == "train"] == [4.0, 2.0, 1.0]
    assert write_loss_plot(log.read(), tmp_path / "loss.png").is_file()
    img = draw_loss_plot(np.array([0, 10]), np.array([1.0, 1.0]), size=(200, 100))
    line = (img[:, :, 0] == 200) & (img[:, :, 1] == 80) & (img[:, :, 2] == 0)  # the curve's colour (BGR)
    assert line.any() and img.shape == (100, 200, 3)


def test_rng_state_round_trip():
    state = rng_state()
    first = (torch.rand(2), np.random.rand(), random.random())
    set_rng_state(state)
    second = (torch.rand(2), np.random.rand(), random.random())
    torch.testing.assert_close(first[0], second[0])
    assert first[1:] == second[1:]


def test_cli_reports_config_errors_as_posetrack_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {kind: mspn}\ndatasets: {}\nphases: []\n")
    result = CliRunner().invoke(train_cmd, [str(bad)])
    assert isinstance(result.exception, ConfigError)
    assert "datasets" in str(result.exception) and "\n" not in str(result.exception)
    result = CliRunner().invoke(train_cmd, [str(tmp_path / "missing.yaml")])
    assert isinstance(result.exception, ConfigError) and "cannot read" in str(result.exception)
    with pytest.raises(ConfigError):
        CliRunner().invoke(train_cmd, [str(tmp_path / "missing.yaml")], catch_exceptions=False)

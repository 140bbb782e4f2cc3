"""examples/train/tiny.yaml end to end, shortened: its bundled data trains from the repository root, the loss falls,
and the final file runs in ``posetrack run --pose mspn-tiny-128x96 --pose-weights FILE``."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from click.testing import CliRunner

from conftest import EXAMPLE_CLIP, ROOT
from posetrack_cli.cli import main
from posetrack_cli.nets.checkpoint import read_checkpoint
from posetrack_cli.train.config import load_config
from posetrack_cli.train.loop import train
from posetrack_cli.zoo import load_card
from train_data_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

CONFIG = "examples/train/tiny.yaml"  # as the README runs it, from the repository root
CARD = "mspn-tiny-128x96"  # the card the config's comment names for `posetrack run`
STEPS = 60  # 12 of the example's epochs (5 iterations of batch 8 over its 42 people)


def test_tiny_example_trains_and_its_checkpoint_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_config(CONFIG)
    card = load_card(CARD)
    assert config.model.input_size == card.input_size
    phase = replace(config.phases[0], epochs=STEPS // 5)
    short = replace(config, phases=(phase,), output_dir=str(tmp_path / "run"), log_every=1)
    result = train(short, device="cpu")

    assert result.steps == STEPS
    losses = [r["loss"] for r in map(json.loads, result.metrics.read_text().splitlines()) if r["kind"] == "train"]
    assert len(losses) == STEPS and all(np.isfinite(losses))
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.9 * first, f"loss did not fall: first 10 steps {first:.1f}, last 10 {last:.1f}"

    meta = read_checkpoint(result.final_weights)["meta"]
    assert meta["network_args"] == dict(card.network_args) and meta["skeleton"] == card.skeleton

    out = tmp_path / "tracks.json"
    run = CliRunner().invoke(main, ["run", str(EXAMPLE_CLIP), "--detectors", "yolo", "--pose", CARD,
                                    "--pose-weights", str(result.final_weights), "--pose-runtime", "torch",
                                    "--device", "cpu", "--max-frames", "2", "--out", str(out), "-q"])
    assert run.exit_code == 0, run.output
    doc = json.loads(out.read_text())
    assert doc["models"]["pose"] == CARD and doc["models"]["detectors"] == ["yolo"]
    people = [p for frame in doc["frames"] for p in frame["people"]]
    assert len(doc["frames"]) == 2 and people  # the clip's first frames show several walkers
    assert all(np.shape(p["keypoints"]) == (17, 3) for p in people)

"""Presets: ``--preset accurate`` is the default method exactly, ``--preset realtime`` sets its options unless they
are given, and the detector-every-k-frames schedule (``--detect-every``) hands the frames between to moved boxes."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import write_video
from scripted_stages import BoxPoses, CountingDetector

from posetrack_cli.cli import main
from posetrack_cli.cli import run as run_command
from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig, TrackConfig
from posetrack_cli.errors import InputError
from posetrack_cli.export import native
from posetrack_cli.pipeline import Profile, Stages, result_config, track_video
from posetrack_cli.records import VideoInfo


def _config_of(tmp_path, monkeypatch, *options) -> PipelineConfig:
    seen = {}

    def capture(source, out, config, *args, **kwargs):
        seen["config"] = config
        raise InputError("stopped by the test")

    monkeypatch.setattr(run_command, "run_single", capture)
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    result = CliRunner().invoke(main, ["run", str(video), "--out", str(tmp_path / "t.json"), *options])
    assert result.exit_code == 2 and "stopped by the test" in result.output
    return seen["config"]


def test_preset_accurate_is_the_default_method(tmp_path, monkeypatch):
    assert _config_of(tmp_path, monkeypatch, "--preset", "accurate") == PipelineConfig()


def test_preset_realtime_sets_its_options_and_explicit_ones_win(tmp_path, monkeypatch):
    config = _config_of(tmp_path, monkeypatch, "--preset", "realtime")
    assert config.detect.detectors == ("yolo", "ssdlite") and config.detect.every == 5
    assert config.track.box_propagation and config.track.propagated_box == "box"
    assert config.pose.model == "yolo-crop" and config.pose.crop_size == 192 and config.frame_batch == 1
    assert config.detect.nms_iou == 0.6 and config.track.memory_frames == 8  # the rest is the papers' method
    mine = _config_of(tmp_path, monkeypatch, "--preset", "realtime", "--detect-every", "2", "--detectors", "yolo",
                      "--propagated-box", "joints")
    assert mine.detect.every == 2 and mine.detect.detectors == ("yolo",) and mine.track.propagated_box == "joints"
    assert mine.pose.crop_size == 192


def test_the_detector_schedule_is_recorded_only_when_changed():
    assert "every" not in result_config(PipelineConfig())["detect"]  # default outputs keep their bytes
    assert result_config(PipelineConfig(DetectConfig(every=3)))["detect"]["every"] == 3


def test_detect_every_k_runs_the_detector_on_every_kth_frame_and_moved_boxes_between(tmp_path):
    frames = [np.full((100, 120, 3), 10 * i, np.uint8) for i in range(7)]
    video = write_video(tmp_path / "v.avi", frames)
    config = PipelineConfig(DetectConfig(every=3), PoseConfig(), TrackConfig(flow="none"), prefetch=0)
    detector = CountingDetector()
    stages = Stages(detector, BoxPoses(), config)
    info = VideoInfo(str(video), 10.0, 120, 100, 7)
    with native.JsonlStream(tmp_path / "t.jsonl", {}) as stream:
        done, _ = track_video(info, stages, stream, Profile())
    assert done == 7
    assert [round(v / 10) for v in detector.seen] == [0, 3, 6]  # MJPG moves the painted values a little
    people = [json.loads(line)["people"] for line in (tmp_path / "t.jsonl").read_text().splitlines()[1:]]
    assert [len(p) for p in people] == [1] * 7 and {p[0]["track_id"] for p in people} == {1}  # one track throughout

"""The commands' defaults are the library's: ``posetrack run X --out Y`` and ``posetrack pose X --out Y`` build
exactly the default configs (the papers' values live in config.py, once)."""

from __future__ import annotations

from click.testing import CliRunner

from posetrack_cli.cli import main
from posetrack_cli.cli import pose as pose_command
from posetrack_cli.cli import run as run_command
from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import InputError


def _captured(monkeypatch, module, name: str) -> dict:
    seen = {}

    def capture(*args, **kwargs):
        seen["config"] = next(a for a in args if isinstance(a, PipelineConfig))
        raise InputError("stopped by the test")

    monkeypatch.setattr(module, name, capture)
    return seen


def test_run_without_options_builds_the_default_config(tmp_path, monkeypatch):
    seen = _captured(monkeypatch, run_command, "run_single")
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    result = CliRunner().invoke(main, ["run", str(video), "--out", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and "stopped by the test" in result.output
    assert seen["config"] == PipelineConfig()


def test_pose_without_options_builds_the_default_config(tmp_path, monkeypatch):
    seen = _captured(monkeypatch, pose_command, "build_stages")
    (tmp_path / "a.jpg").write_bytes(b"")
    result = CliRunner().invoke(main, ["pose", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "stopped by the test" in result.output
    assert seen["config"] == PipelineConfig()


def test_choices_come_from_the_registries():
    from posetrack_cli.export import FORMAT_NAMES
    from posetrack_cli.track.assignment import MATCHERS
    from posetrack_cli.track.propagate import PROPAGATORS
    from posetrack_cli.track.similarity import SIMILARITIES

    params = {p.name: p for p in run_command.run_cmd.params}
    assert list(params["matching"].type.choices) == list(MATCHERS)
    assert list(params["flow"].type.choices) == list(PROPAGATORS)
    assert list(params["similarity"].type.choices) == list(SIMILARITIES) == ["oks", "iou"]
    assert all(name in params["format"].help for name in FORMAT_NAMES)

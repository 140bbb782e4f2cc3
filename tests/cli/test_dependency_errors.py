"""A dependency without an API posetrack calls is one line naming the package and its version (exit code 5), both
from an adapter's own check and from the CLI's last-resort formatter; never "internal error"."""

from __future__ import annotations

import importlib.metadata

import cv2
import pytest
from click.testing import CliRunner

from conftest import EXAMPLE_CLIP
from posetrack_cli.cli import main
from posetrack_cli.detect.yolo import load_yolo

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_two_frames(tmp_path):
    args = ["run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "--detectors", "yolo", "--pose", "yolo-crop",
            "--yolo-imgsz", "320", "--max-frames", "2", "-q"]
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "internal error" not in lines[0]
    return lines[0]


@pytest.fixture
def fresh_yolo():
    """The YOLO model is loaded again (not taken from the cache of an earlier test)."""
    load_yolo.cache_clear()
    yield
    load_yolo.cache_clear()


def test_adapter_names_the_missing_ultralytics_api(tmp_path, monkeypatch, fresh_yolo):
    import ultralytics

    # an Ultralytics release without the YOLO class (the module imports its models lazily, by name from MODELS)
    monkeypatch.setattr(ultralytics, "MODELS", tuple(m for m in ultralytics.MODELS if m != "YOLO"))
    if "YOLO" in vars(ultralytics):
        monkeypatch.delattr(ultralytics, "YOLO")
    assert not hasattr(ultralytics, "YOLO")
    result = run_two_frames(tmp_path)
    assert result.exit_code == 5
    assert one_error_line(result) == (f"error: YOLO needs ultralytics.YOLO; installed ultralytics "
                                      f"{importlib.metadata.version('ultralytics')} lacks it; run posetrack doctor")


def test_cli_formatter_names_a_missing_api_outside_the_adapters(tmp_path, monkeypatch):
    monkeypatch.delattr(cv2, "DISOpticalFlow_create")  # called by the tracker, which wraps nothing
    result = run_two_frames(tmp_path)
    assert result.exit_code == 5
    assert one_error_line(result) == (f"error: posetrack_cli.track.flow needs cv2.DISOpticalFlow_create; installed "
                                      f"opencv-python {importlib.metadata.version('opencv-python')} lacks it; "
                                      "run posetrack doctor")


def test_a_bug_of_ours_stays_an_internal_error(tmp_path, monkeypatch):
    from posetrack_cli.track import tracker

    def broken(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(tracker.PoseTracker, "update", broken)
    result = run_two_frames(tmp_path)
    assert result.exit_code == 70 and "internal error: AttributeError" in result.output

"""``posetrack doctor``: the installed versions, the bundled files against their MANIFEST, a broken dependency and a
failing smoke run, each as one line."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from conftest import EXAMPLE_CLIP, ROOT
from posetrack_cli.cli import main
from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig
from posetrack_cli.runs import doctor as doctor_module
from posetrack_cli.runs.doctor import smoke_check

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WEIGHTS = ROOT / "weights"


def doctor(*args: str):
    return CliRunner().invoke(main, ["doctor", *args])


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.lstrip().startswith("FAIL")]


def test_reports_the_installed_versions_and_cpu_flags():
    result = doctor("--no-run")
    assert result.exit_code == 0, result.output
    [python] = [line.split()[2] for line in result.output.splitlines() if line.split()[:2] == ["ok", "Python"]]
    assert python == platform.python_version()
    for dist in ("torch", "torchvision", "opencv-python", "onnxruntime", "ultralytics", "numpy", "imageio-ffmpeg"):
        assert f"{dist} {importlib.metadata.version(dist)}" in result.output, dist
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split()
        assert f"AVX2 {'yes' if 'avx2' in flags else 'no'}" in result.output
        assert f"AVX512-VNNI {'yes' if 'avx512_vnni' in flags else 'no'}" in result.output
    assert "no problems found" in result.output and not failed_lines(result.output)


def test_a_corrupted_bundled_file_is_a_sha256_mismatch(tmp_path):
    """A copy of the bundled folder with one damaged file, and one more MANIFEST row (as a new file would add)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for path in WEIGHTS.iterdir():
        if path.name != "yolo11n-pose.pt":
            (shutil.copy if path.name == "MANIFEST.md" else os.symlink)(path, folder / path.name)
    data = bytearray((WEIGHTS / "yolo11n-pose.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "yolo11n-pose.pt").write_bytes(data)
    (folder / "extra_detector.onnx").write_bytes(b"an extra file")
    text = (folder / "MANIFEST.md").read_text(encoding="utf-8")
    row = f"| `extra_detector.onnx` | a new file | {hashlib.sha256(b'an extra file').hexdigest()} | made here | MIT |"
    last_row = [line for line in text.splitlines() if line.startswith("| ssdlite")][-1]
    (folder / "MANIFEST.md").write_text(text.replace(last_row, f"{last_row}\n{row}"), encoding="utf-8")

    result = doctor("--no-run", "--weights-dir", str(folder))
    assert result.exit_code == 1
    [line] = failed_lines(result.output)
    assert "yolo11n-pose.pt" in line and "sha256 mismatch" in line and "fix:" in line
    assert hashlib.sha256(bytes(data)).hexdigest()[:12] in line
    for name in ("ssdlite_mobilenet_v2_person.pb", "extra_detector.onnx"):
        assert any(line.split()[:2] == ["ok", name] for line in result.output.splitlines()), name


def test_a_broken_dependency_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    result = doctor("--no-run")
    assert result.exit_code == 1
    [line] = failed_lines(result.output)
    assert "ONNX Runtime" in line and "onnxruntime does not import" in line
    assert f"fix: pip install --force-reinstall onnxruntime=={importlib.metadata.version('onnxruntime')}" in line


SMALL = PipelineConfig(DetectConfig(detectors=("yolo",), yolo_imgsz=320), PoseConfig(model="yolo-crop"),
                       max_frames=2, prefetch=0, offline=True)


def test_the_doctor_finds_the_bundled_clip_of_a_checkout():
    assert doctor_module.EXAMPLE_CLIP == EXAMPLE_CLIP and EXAMPLE_CLIP.is_file()


def test_smoke_run_tracks_two_frames_and_names_a_missing_api(monkeypatch):
    check = smoke_check(EXAMPLE_CLIP, SMALL)
    assert check.status == "ok" and check.detail.startswith("2 frames in ") and "pose yolo-crop" in check.detail
    monkeypatch.delattr(cv2, "DISOpticalFlow_create")  # the tracker's optical flow (--flow dis, the default)
    check = smoke_check(EXAMPLE_CLIP, SMALL)
    assert check.failed
    assert check.detail == (f"posetrack_cli.track.flow needs cv2.DISOpticalFlow_create; installed opencv-python "
                            f"{importlib.metadata.version('opencv-python')} lacks it")
    assert "opencv-python" in check.fix

"""Subcommands load when used: with OpenCV broken, ``posetrack doctor`` still starts and names it, and ``posetrack
run`` fails in one line (exit 5) instead of a traceback. Each case runs in a fresh interpreter."""

import subprocess
import sys

BROKEN_CV2 = "import sys; sys.modules['cv2'] = None; from posetrack_cli.cli import main; main({args!r})"


def run_with_broken_opencv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BROKEN_CV2.format(args=list(args))], capture_output=True, text=True,
                          timeout=300)


def test_doctor_starts_and_reports_a_broken_opencv():
    result = run_with_broken_opencv("doctor", "--no-run")
    assert result.returncode == 1, result.stderr
    assert "OpenCV" in result.stdout and "FAIL" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_run_with_a_broken_opencv_is_one_line(tmp_path):
    result = run_with_broken_opencv("run", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "t.json"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 5 and len(lines) == 1 and "cv2" in lines[0], result.stderr
    assert "Traceback" not in result.stderr

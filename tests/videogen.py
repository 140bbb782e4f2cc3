"""Small real video files made inside the tests: with OpenCV (always) or with the ffmpeg binary (skipped without it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXAMPLE_CLIP, write_video

from posetrack_cli.io import ffmpeg as media


def ffmpeg_or_skip() -> str:
    exe = media.ffmpeg_exe()
    if exe is None:
        pytest.skip("needs an ffmpeg binary (pip install imageio-ffmpeg)")
    return exe


def ffmpeg(*args: str | Path) -> None:
    """Run the ffmpeg binary quietly; fail the test with its message when it fails."""
    cmd = [ffmpeg_or_skip(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def pattern_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames with a bright square moving right over a dark textured background (no people in them)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(20, 60, (height, width, 3), dtype=np.uint8)
    side = max(2, min(width, height) // 4)
    frames = []
    for i in range(n):
        f = base.copy()
        x = (i * max(1, width // (n + 1))) % max(1, width - side)
        f[: side, x: x + side] = (40, 200, 240)
        frames.append(f)
    return frames


def clip_frames(n: int, width: int, height: int, start: int = 0) -> list[np.ndarray]:
    """Frames ``start`` to ``start + n`` of the bundled clip (walking people) resized to ``width`` x ``height``."""
    cap = cv2.VideoCapture(str(EXAMPLE_CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [cv2.resize(cap.read()[1], (width, height), interpolation=cv2.INTER_AREA) for _ in range(n)]
    cap.release()
    return frames


def people_video(path: Path, n: int = 6, width: int = 320, height: int = 240, start: int = 0) -> Path:
    return write_video(path, clip_frames(n, width, height, start))


def lavfi_video(path: Path, seconds: float, size: str = "64x48", rate: str = "10", audio: bool = False,
                extra: tuple[str, ...] = ()) -> Path:
    """A test-pattern video made by ffmpeg (H.264 in .mp4, FFV1 in .mkv), optionally with a 440 Hz tone."""
    args: list[str] = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-c:a", "aac"]
    codec = ["-c:v", "ffv1"] if path.suffix == ".mkv" else ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    ffmpeg(*args, "-t", str(seconds), *codec, *extra, path)
    return path


def truncate(path: Path, keep: float) -> Path:
    """Cut ``path`` to the first ``keep`` fraction of its bytes, as a crash or an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path

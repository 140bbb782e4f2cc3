"""The bad-input matrix through the CLI: each case gives one clear line (or a warning row), the right exit code, no
traceback, and keeps what was done. Every input is a small real file made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP, write_video
from videogen import ffmpeg, ffmpeg_or_skip, lavfi_video, pattern_frames, truncate

from posetrack_cli.cli import main
from posetrack_cli.io import ffmpeg as media

FAST = ("--detectors", "ssdlite", "--pose", "yolo-crop", "-q")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, code: int, *texts: str) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(t in lines[0] for t in texts), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def frames_of(path: Path) -> tuple[int, float, int, int]:
    """(frame count, fps, width, height) of a video as OpenCV reads it."""
    cap = cv2.VideoCapture(str(path))
    facts = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS),
             int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return facts


def decodable_frames(path: Path) -> int:
    cap, n = cv2.VideoCapture(str(path)), 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def tracks(path: Path) -> dict:
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------ inputs that are refused
@pytest.mark.parametrize("name, make, texts", [
    ("missing.mp4", lambda p: None, ("no such file", "check the path")),
    ("zero.mp4", lambda p: p.write_bytes(b""), ("empty file (0 bytes)",)),
    ("text.mp4", lambda p: p.write_text("this is a text file\n" * 200), ("cannot decode", "not a video file")),
    ("link.mp4", lambda p: p.symlink_to(p.parent / "gone.mp4"), ("broken symbolic link", "gone.mp4")),
])
def test_refused_inputs(tmp_path, name, make, texts):
    make(tmp_path / name)
    out = tmp_path / "out" / "t.json"
    one_line_error(invoke("run", tmp_path / name, "--out", out, *FAST), 2, name, *texts)
    assert not out.parent.exists()  # refused before anything was written


def unsupported_codec_video(tmp_path: Path) -> Path:
    """A valid AVI whose stream claims the codec FourCC 'QQQQ' that no decoder knows."""
    good = write_video(tmp_path / "good.avi", pattern_frames(4, 64, 48))
    data = good.read_bytes()
    assert data.count(b"MJPG") >= 1
    bad = tmp_path / "qqqq.avi"
    bad.write_bytes(data.replace(b"MJPG", b"QQQQ"))
    return bad


def test_unsupported_codec_named_in_one_line(tmp_path):
    line = one_line_error(invoke("run", unsupported_codec_video(tmp_path), "--out", tmp_path / "t.json", *FAST),
                          2, "cannot decode any frame")
    if media.ffmpeg_exe() is not None:
        assert "unsupported video codec 'QQQQ'" in line and "re-encode" in line


def test_no_decoder_noise_on_the_real_stderr(tmp_path):
    """Through a real process: OpenCV's and FFmpeg's own stderr lines are silenced, one line remains."""
    bad = unsupported_codec_video(tmp_path)
    code = "from posetrack_cli.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "run", str(bad), "--out", str(tmp_path / "t.json"), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr


# ----------------------------------------------------------------------------------- odd but valid inputs that run
def test_truncated_video_keeps_decoded_frames_and_reports(tmp_path):
    video = truncate(write_video(tmp_path / "cut.avi", pattern_frames(20, 64, 48)), keep=0.5)
    out = tmp_path / "t.json"
    result = invoke("run", video, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    doc = tracks(out)
    decoded = decodable_frames(video)
    assert 0 < len(doc["frames"]) == decoded < 20
    assert doc["stats"]["truncated"] is True and doc["stats"]["complete"] is True
    assert f"truncated: decoded {decoded} of 20 announced frames" in result.output


def test_one_frame_video(tmp_path):
    video = write_video(tmp_path / "one.avi", pattern_frames(1, 64, 48))
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    result = invoke("run", video, "--out", out, "--render", overlay, *FAST)
    assert result.exit_code == 0 and "truncated" not in result.output, result.output
    assert len(tracks(out)["frames"]) == 1 and tracks(out)["stats"]["truncated"] is False
    assert frames_of(overlay)[0] == 1


def test_grayscale_video(tmp_path):
    if media.ffmpeg_exe() is not None:  # a truly single-channel stream
        video = lavfi_video(tmp_path / "gray.mkv", 0.5, size="64x48", extra=("-pix_fmt", "gray"))
    else:
        writer = cv2.VideoWriter(str(tmp_path / "gray.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48), False)
        for f in pattern_frames(5, 64, 48):
            writer.write(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
        writer.release()
        video = tmp_path / "gray.avi"
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    result = invoke("run", video, "--out", out, "--render", overlay, *FAST)
    assert result.exit_code == 0, result.output
    doc = tracks(out)
    assert (doc["video"]["width"], doc["video"]["height"]) == (64, 48) and len(doc["frames"]) == 5
    assert frames_of(overlay)[0] == 5


def test_4k_video(tmp_path):
    frames = pattern_frames(2, 3840, 2160)
    video = write_video(tmp_path / "uhd.avi", frames)
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    result = invoke("run", video, "--out", out, "--render", overlay, *FAST)
    assert result.exit_code == 0, result.output
    doc = tracks(out)
    assert (doc["video"]["width"], doc["video"]["height"]) == (3840, 2160) and len(doc["frames"]) == 2
    assert frames_of(overlay)[0] == 2 and frames_of(overlay)[2:] == (3840, 2160)


def test_odd_frame_size(tmp_path):
    video = lavfi_video(tmp_path / "odd.mkv", 0.3, size="63x47")  # OpenCV's writers round sizes down to even
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    result = invoke("run", video, "--out", out, "--render", overlay, *FAST)
    assert result.exit_code == 0, result.output
    assert (tracks(out)["video"]["width"], tracks(out)["video"]["height"]) == (63, 47)
    count, _, width, height = frames_of(overlay)
    assert count == 3 and (width, height) == (64, 48)  # padded by one black column and row


def test_variable_frame_rate(tmp_path):
    ffmpeg_or_skip()
    # 10 frames 0.1 s apart, then 10 frames 0.5 s apart; Matroska announces duration x nominal fps = 56 frames.
    video = tmp_path / "vfr.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "20",
           "-vf", "setpts='if(lt(N,10),N/10,1+(N-10)/2)/TB'", "-fps_mode", "vfr", "-c:v", "ffv1", video)
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    result = invoke("run", video, "--out", out, "--render", overlay, *FAST)
    assert result.exit_code == 0 and "truncated" not in result.output, result.output
    doc = tracks(out)
    expected = [round(i / 10, 6) for i in range(10)] + [round(1 + i / 2, 6) for i in range(10)]
    assert [f["time_s"] for f in doc["frames"]] == pytest.approx(expected, abs=1e-3)
    assert doc["stats"]["truncated"] is False
    assert frames_of(overlay)[0] == 20  # one overlay frame per decoded frame


# ------------------------------------------------------------------------------------------------------ folders
@pytest.fixture
def messy_folder(tmp_path, monkeypatch) -> Path:
    """good.avi, junk, hidden files, an unreadable video, a broken link and an unreadable sub-folder."""
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    (root / ".cache").mkdir()
    write_video(root / "good.avi", pattern_frames(3, 64, 48))
    write_video(root / "locked" / "inside.avi", pattern_frames(3, 64, 48))
    write_video(root / ".cache" / "hidden.avi", pattern_frames(3, 64, 48))
    (root / ".hidden.mp4").write_bytes(b"x")
    (root / "notes.txt").write_text("junk")
    (root / "thumbs.db").write_bytes(b"\x00" * 64)
    unreadable = write_video(root / "secret.avi", pattern_frames(3, 64, 48))
    (root / "dead.mp4").symlink_to(root / "moved-away.mp4")
    unreadable.chmod(0)
    (root / "locked").chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the kernel's answer for these two paths what a user gets
        real_access, real_scandir = os.access, os.scandir
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == unreadable
                            else real_access(p, mode, **kw))

        def scandir(path="."):
            if Path(path) == root / "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    yield root
    (root / "locked").chmod(0o755)


def test_folder_with_junk_hidden_and_unreadable_files(messy_folder, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", messy_folder, "--out", out, *FAST)
    assert result.exit_code == 1, result.output  # something failed; the rest was done
    assert "Traceback" not in result.output
    rows = {Path(r["video"]).name: r for r in json.loads((out / "summary.json").read_text())["videos"]}
    assert set(rows) == {"good.avi", "secret.avi", "dead.mp4", "locked"}
    assert rows["good.avi"]["status"] == "done" and (out / "good.json").exists()
    assert rows["secret.avi"]["status"] == "failed" and "permission denied" in rows["secret.avi"]["error"]
    assert rows["dead.mp4"]["status"] == "failed" and "broken symbolic link" in rows["dead.mp4"]["error"]
    assert rows["locked"]["status"] == "failed" and "folder not searched" in rows["locked"]["error"]
    for name in ("secret.avi", "dead.mp4", "locked"):
        assert name in result.output


def test_unreadable_folder_itself(tmp_path, monkeypatch):
    root = tmp_path / "in"
    root.mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == root:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    one_line_error(invoke("run", root, "--out", tmp_path / "out", *FAST), 2, "permission denied")


# ------------------------------------------------------------------------------------------------------- outputs
def test_unwritable_output(tmp_path):
    video = write_video(tmp_path / "v.avi", pattern_frames(3, 64, 48))
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    one_line_error(invoke("run", video, "--out", blocker / "t.json", *FAST), 4, "cannot write into")
    one_line_error(invoke("run", video, "--out", tmp_path / "t.json", "--render", blocker / "o.mp4", *FAST), 4,
                   "cannot write into")
    one_line_error(invoke("run", tmp_path, "--out", blocker / "out", *FAST), 4, "cannot write into")
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "t.jsonl").exists()
    if os.geteuid() != 0:  # a read-only folder (root writes anyway)
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o555)
        one_line_error(invoke("run", video, "--out", locked / "t.json", *FAST), 4, "Permission denied")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_stream_on_dev_full(tmp_path):
    """A real ENOSPC: the .jsonl stream is a link to /dev/full."""
    video = write_video(tmp_path / "v.avi", pattern_frames(3, 64, 48))
    out = tmp_path / "out"
    out.mkdir()
    (out / "v.jsonl").symlink_to("/dev/full")
    line = one_line_error(invoke("run", video, "--out", out / "v.json", *FAST), 4, "No space left on device")
    assert "v.jsonl" in line and not (out / "v.json").exists()


# ------------------------------------------------------------------------------------------------------- weights
def test_corrupt_and_wrong_yolo_weights(tmp_path):
    import torch

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(bytes(np.random.default_rng(7).integers(0, 256, 2048, dtype=np.uint8)))
    wrong = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, wrong)
    for weights in (corrupt, wrong):
        one_line_error(invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", *FAST, "--yolo-weights", weights),
                       3, "cannot load YOLO weights", weights.name)
    one_line_error(invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", *FAST, "--yolo-weights",
                          tmp_path / "none.pt"), 3, "not found")


def test_corrupt_and_wrong_pose_weights(tmp_path):
    import torch

    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(bytes(np.random.default_rng(7).integers(0, 256, 2048, dtype=np.uint8)))
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, wrong)
    common = ("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "-q", "--detectors", "ssdlite",
              "--pose", "mspn-2x50-coco", "--pose-weights")
    one_line_error(invoke(*common, corrupt), 3, "corrupt.pth", "not a PyTorch checkpoint")
    one_line_error(invoke(*common, wrong), 3, "wrong.pth", "does not fit")
    assert not (tmp_path / "t.jsonl").exists()


def test_pose_weights_failing_sha256(tmp_path, monkeypatch):
    from posetrack_cli import zoo

    card = zoo.load_card("mspn-2x50-coco")
    assert card.weights.sha256 is not None  # the card publishes its digest
    monkeypatch.setattr(zoo, "weights_dir", lambda: tmp_path / "weights")  # whatever this machine has installed
    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / card.weights.file).write_bytes(b"not the published file")
    boxes = tmp_path / "boxes.json"  # supplied boxes: no detector, so no bundled detector file is needed
    boxes.write_text(json.dumps({"frames": [{"frame": 0, "boxes": [[10, 10, 60, 150, 0.9]]}]}))
    one_line_error(invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "-q", "--boxes", boxes,
                          "--pose", "mspn-2x50-coco"), 3, "sha256", "does not match")

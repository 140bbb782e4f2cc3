"""``posetrack report`` through click.testing: bad input is one line and exit code 2, a page's size is reported
(the pages in a browser: test_browser.py)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP
from scene import folder_run, tracks_doc, write_scene

from posetrack_cli.cli import main
from posetrack_cli.io import ffmpeg
from posetrack_cli.report import write_report


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, result.output


def test_missing_file(tmp_path):
    assert_one_line_error(invoke("report", tmp_path / "nope.json", "--out", tmp_path / "r.html"), 2,
                          "no such file or folder")


def test_corrupt_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "posetrack.tracks/1", "frames": [')
    assert_one_line_error(invoke("report", bad, "--out", tmp_path / "r.html"), 2, "not valid JSON")


def test_folder_without_summary(tmp_path):
    assert_one_line_error(invoke("report", tmp_path, "--out", tmp_path / "r"), 2, "no summary.json")


def test_missing_video(tmp_path):
    doc = tracks_doc(video=str(tmp_path / "moved.avi"))
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    assert_one_line_error(invoke("report", path, "--out", tmp_path / "r.html"), 2, "pass --video PATH")
    assert_one_line_error(invoke("report", path, "--out", tmp_path / "r.html", "--video", tmp_path / "x.avi"), 2,
                          "--video")
    assert not (tmp_path / "r.html").exists()


def test_no_video_page_and_its_size(tmp_path):
    out = tmp_path / "r.html"
    result = invoke("report", write_scene(tmp_path / "scene.json"), "--out", out, "--no-video")
    assert result.exit_code == 0, result.output
    size = out.stat().st_size
    shown = re.search(r"\((\d+) kB", result.output)
    assert shown and abs(int(shown.group(1)) - size / 1024) <= 1 and "no video" in result.output


def test_run_help_mentions_report():
    assert "--report" in invoke("run", "--help").output


@pytest.mark.parametrize("args", [("--video", EXAMPLE_CLIP)])
def test_video_option_is_for_one_run_only(tmp_path, args):
    out = folder_run(tmp_path)
    assert_one_line_error(invoke("report", out, "--out", tmp_path / "r", *args), 2, "--video names one video")


def test_without_ffmpeg_the_page_has_no_video_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(ffmpeg, "ffmpeg_exe", lambda: None)
    result = write_report(write_scene(tmp_path / "scene.json"), tmp_path / "r.html")
    assert result.video_src == "" and "no browser-playable copy of vtest.avi" in result.note
    assert "no ffmpeg binary" in result.note and result.path.is_file()


def test_folder_run_with_report(tmp_path, empty_scene_video):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    empty_scene_video.rename(videos / "sub" / "empty.avi")
    out = tmp_path / "out"
    result = invoke("run", videos, "--out", out, "-q", "--pose", "yolo-crop", "--detectors", "ssdlite", "--report")
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    assert 'href="sub/empty.html"' in index and (out / "sub" / "empty.html").is_file()
    assert f"wrote {out / 'index.html'} (1 video page)" in result.output

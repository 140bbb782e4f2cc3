"""``posetrack run`` on image sequences through click.testing: a folder of frames runs as one sequence (names in the
JSON, PoseTrack names of the GT, --fps, an overlay at that rate, ``posetrack render``), a folder of sequence folders
and videos runs as a batch mirroring the tree (and resumes), and --input-type overrides the guess."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner
from conftest import write_video
from videogen import clip_frames, pattern_frames

from posetrack_cli.cli import main
from posetrack_cli.io.sources import probe

FAST = ("--detectors", "ssdlite", "--pose", "yolo-crop", "-q")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_frames(folder: Path, frames, pattern: str = "{:06d}.jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / pattern.format(k)), frame)
    return folder


def one_line_error(result, code: int, text: str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code and len(lines) == 1 and text in lines[0], result.output


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
    """``posetrack run images/val/000342_mpii_test`` (4 frames of walking people) at --fps 8 with PT18 and an
    overlay."""
    root = tmp_path_factory.mktemp("seq")
    seq = write_frames(root / "images" / "val" / "000342_mpii_test", clip_frames(4, 320, 240, start=40))
    out = root / "out" / "t.json"
    result = invoke("run", seq, "--out", out, "--fps", 8, "--format", "native,posetrack18", "--render",
                    root / "out" / "o.mp4", *FAST)
    assert result.exit_code == 0, result.output
    return seq, out


def test_a_folder_of_frames_runs_as_one_sequence(sequence_run):
    seq, out = sequence_run
    doc = json.loads(out.read_text())
    assert doc["video"] | {"path": ""} == {"path": "", "fps": 8.0, "width": 320, "height": 240, "frame_count": 4,
                                           "rotation": 0, "kind": "frames"}
    assert [(f["frame_index"], f["time_s"], f["name"]) for f in doc["frames"]] == \
        [(k, k / 8, f"{k:06d}.jpg") for k in range(4)]
    assert doc["stats"]["people"] > 0 and doc["stats"]["complete"] is True
    stream = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert [f["name"] for f in stream if f["type"] == "frame"] == [f"{k:06d}.jpg" for k in range(4)]
    pt18 = json.loads(out.with_name("t.posetrack18.json").read_text())
    assert [im["file_name"] for im in pt18["images"]] == [f"images/val/000342_mpii_test/{k:06d}.jpg"
                                                          for k in range(4)]
    assert [im["id"] for im in pt18["images"]] == [10003420000 + k for k in range(4)]


def test_overlay_of_a_sequence_and_the_render_command(sequence_run, tmp_path):
    seq, out = sequence_run
    info = probe(out.with_name("o.mp4"))
    assert (info.fps, info.frame_count, info.width, info.height) == (8.0, 4, 320, 240)
    result = invoke("render", seq, out, "--out", tmp_path / "r.avi")
    assert result.exit_code == 0, result.output
    assert (probe(tmp_path / "r.avi").frame_count, probe(tmp_path / "r.avi").fps) == (4, 8.0)  # the run's --fps


def test_a_folder_of_sequences_and_videos_runs_as_a_batch_and_resumes(tmp_path):
    root = tmp_path / "in"
    write_frames(root / "val" / "seq_a", pattern_frames(3, 96, 64), "{:06d}.png")
    write_frames(root / "val" / "seq_b", pattern_frames(2, 96, 64, seed=1))
    (root / "val" / "empty").mkdir()
    (root / "clips").mkdir()
    write_video(root / "clips" / "v.avi", pattern_frames(3, 96, 64, seed=2))
    write_frames(root / "clips", pattern_frames(1, 96, 64), "poster.jpg")  # beside a video: not a sequence
    out = tmp_path / "out"
    result = invoke("run", root, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "summary.json").read_text())["videos"]
    assert [(Path(r["video"]).relative_to(root).as_posix(), r["status"], r["frames"]) for r in rows] == \
        [("clips/v.avi", "done", 3), ("val/seq_a", "done", 3), ("val/seq_b", "done", 2)]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == \
        ["clips/v.json", "summary.json", "val/seq_a.json", "val/seq_b.json"]
    assert json.loads((out / "val" / "seq_a.json").read_text())["frames"][2]["name"] == "000002.png"
    again = invoke("run", root, "--out", out, "--resume", *FAST)
    assert again.exit_code == 0, again.output
    assert {r["status"] for r in json.loads((out / "summary.json").read_text())["videos"]} == {"skipped"}


def test_input_type_overrides_the_guess(tmp_path):
    seq = write_frames(tmp_path / "seq", pattern_frames(2, 96, 64))
    write_video(seq / "extra.avi", pattern_frames(2, 96, 64))  # images beside a video: auto makes it a batch
    result = invoke("run", seq, "--out", tmp_path / "one.json", "--input-type", "frames", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "one.json").read_text())["video"]["kind"] == "frames"
    one_line_error(invoke("run", seq, "--out", tmp_path / "x.json", "--input-type", "video", *FAST), 2,
                   "--input-type video needs a video file")
    one_line_error(invoke("run", seq / "extra.avi", "--out", tmp_path / "o", "--input-type", "batch", *FAST), 2,
                   "--input-type batch needs a folder")
    (tmp_path / "nothing").mkdir()
    one_line_error(invoke("run", tmp_path / "nothing", "--out", tmp_path / "y.json", "--input-type", "frames", *FAST),
                   2, "is a folder with no images")
    one_line_error(invoke("run", tmp_path / "nothing", "--out", tmp_path / "o", *FAST), 2, "no videos found")

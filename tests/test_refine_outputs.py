"""The refinement pass in the outputs: --no-refine writes byte for byte what the online tracker's path writes;
refined outputs record their settings, keep the .jsonl stream as it was, and mark filled entries; ``posetrack
refine`` re-runs the pass on an existing stream without the video."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from posetrack_cli.cli import main
from posetrack_cli.config import OutputConfig, PipelineConfig, RefineConfig
from posetrack_cli.export import write_extra_formats
from posetrack_cli.export.native import JsonlStream, read_stream, write_tracks_json
from posetrack_cli.pipeline import result_config, write_outputs
from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks, VideoInfo
from posetrack_cli.runs.outputs import finished_stats

FIGURE = np.array([(0, -45), (-4, -48), (4, -48), (-8, -46), (8, -46), (-15, -30), (15, -30), (-20, -10), (20, -10),
                   (-22, 10), (22, 10), (-10, 10), (10, 10), (-10, 30), (10, 30), (-10, 50), (10, 50)], np.float64)
INFO = VideoInfo("walk.mp4", 10.0, 640, 360, 40)
FORMATS = ("native", "posetrack18", "posetrack17", "coco", "mot")


def _frame(k: int) -> FrameResult:
    """A walker at x = 100 + 4 k, seen as id 1 in frames 0-17 and id 2 in frames 24-39 (hidden 18-23), plus a
    still person (id 3) at x = 500 in frames 0-39 whose frame 30 is missing (a detector miss)."""
    people = []
    if k < 18 or k >= 24:
        people.append((1 if k < 18 else 2, 100 + 4 * k))
    if k != 30:
        people.append((3, 500.0))
    kp = np.array([np.c_[np.array([x, 200.0]) + FIGURE, np.full(17, 0.9)] for _, x in people]).reshape(-1, 17, 3)
    boxes = np.array([[x - 30, 145, x + 30, 255] for _, x in people], np.float64).reshape(-1, 4)
    n = len(people)
    poses = Poses(boxes, np.full(n, 0.9), kp, np.full(n, 0.8), COCO17)
    return FrameResult(k, k / 10.0, Tracks(poses, [tid for tid, _ in people], np.arange(n)))


def _stream(path, config: PipelineConfig):
    header = {"video": INFO.to_dict(), "models": {"detectors": ["yolo"], "pose": "test", "skeleton": "coco17"},
              "config": result_config(config)}
    with JsonlStream(path, header) as stream:
        for k in range(40):
            stream.write(_frame(k))
        stream.finish(truncated=False)


def _config(refine: bool) -> PipelineConfig:
    return PipelineConfig(output=OutputConfig(formats=FORMATS), refine=RefineConfig(enabled=refine))


def _files(folder, stem: str) -> dict[str, bytes]:
    return {p.name.replace(stem, "X"): p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith(stem)}


def test_no_refine_writes_exactly_the_online_outputs(tmp_path):
    config = _config(False)
    _stream(tmp_path / "a.jsonl", config)
    _stream(tmp_path / "b.jsonl", config)
    write_outputs(INFO, tmp_path / "a.json", config, None, appearance={1: np.ones(4) / 4})
    # the online tracker's path as it was before refinement existed: prune, write, export
    stream = read_stream(tmp_path / "b.jsonl")
    write_tracks_json(stream, tmp_path / "b.json", config.track.min_track_length)
    write_extra_formats(stream, tmp_path / "b.json", config, INFO)
    a, b = _files(tmp_path, "a."), _files(tmp_path, "b.")
    assert len(a) == len(FORMATS) + 1 and a == b


def test_refined_outputs(tmp_path):
    config = _config(True)
    _stream(tmp_path / "t.jsonl", config)
    raw = (tmp_path / "t.jsonl").read_bytes()
    stats = write_outputs(INFO, tmp_path / "t.json", config, None)
    assert (tmp_path / "t.jsonl").read_bytes() == raw  # the online tracks stay available
    assert not (tmp_path / "t.refined.jsonl").exists()
    out = json.loads((tmp_path / "t.json").read_text())
    assert out["refine"] == {"enabled": True, "repair_swaps": True, "max_gap_s": 2.0, "max_join_cost": 2.0,
                             "fill_gap": 10, "interpolated_score": 0.5, "smooth_cutoff_hz": 1.5, "lean_scores": True}
    assert stats["refine"] == {"tracklets": 3, "swaps": 0, "dropped": 0, "joins": 1, "tracks": 2, "filled": 7}
    ids = [sorted(p["track_id"] for p in f["people"]) for f in out["frames"]]
    assert ids == [[1, 3]] * 40  # the walker is id 1 throughout; the gaps (6 + 1 frames) are filled
    filled = {(f["frame_index"], p["track_id"]) for f in out["frames"] for p in f["people"] if p.get("interpolated")}
    assert filled == {(k, 1) for k in range(18, 24)} | {(30, 3)}
    person = next(p for p in out["frames"][20]["people"] if p["track_id"] == 1)
    assert person["score"] == 0.4 and person["keypoints"][0][2] == 0.45  # 0.8 and 0.9 halved
    assert person["keypoints"][0][0] == 180.0  # the nose on the walker's line: 100 + 4 x 20 + 0
    assert out["tracks"] == [{"track_id": 1, "first_frame": 0, "last_frame": 39, "length": 40},
                             {"track_id": 3, "first_frame": 0, "last_frame": 39, "length": 40}]


def test_refine_command_on_an_existing_stream(tmp_path):
    _stream(tmp_path / "t.jsonl", _config(False))
    result = CliRunner().invoke(main, ["refine", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json"),
                                       "--format", "native,mot", "--fill-gap", "0", "--no-lean-scores"])
    assert result.exit_code == 0, result.output
    assert "2 tracks" in result.output and "1 joins, 0 filled" in result.output
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["refine"]["fill_gap"] == 0 and (tmp_path / "r.mot.txt").exists()
    assert out["refine"]["lean_scores"] is False
    assert sum(len(f["people"]) for f in out["frames"]) == 34 + 39  # nothing filled


def test_refine_command_bad_input_is_one_line(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["refine", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "r.json")])
    (tmp_path / "junk.jsonl").write_text("not json\n")
    junk = runner.invoke(main, ["refine", str(tmp_path / "junk.jsonl"), "--out", str(tmp_path / "r.json")])
    for result in (missing, junk):
        assert result.exit_code != 0 and result.output.count("\n") == 1 and result.output.startswith("error:")
    (tmp_path / "t.json").write_text("{}")
    wrong = runner.invoke(main, ["refine", str(tmp_path / "t.json"), "--out", str(tmp_path / "r.json")])
    assert wrong.exit_code != 0 and wrong.output.count("\n") == 1 and ".jsonl stream" in wrong.output


def test_resume_redoes_outputs_refined_otherwise(tmp_path):
    config = _config(True)
    _stream(tmp_path / "t.jsonl", config)
    write_outputs(INFO, tmp_path / "t.json", config, None)
    assert finished_stats(tmp_path / "t.json", config) is not None
    other = config.with_(refine=RefineConfig(max_gap_s=3.0))
    assert finished_stats(tmp_path / "t.json", other) is None
    assert finished_stats(tmp_path / "t.json", _config(False)) is None

import gc
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from posetrack_cli.errors import OutputError
from posetrack_cli.export.native import SCHEMA, JsonlStream, frame_from_dict, read_stream, write_tracks_json
from posetrack_cli.io.files import atomic_write
from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks


def result(index: int, ids: list[int]) -> FrameResult:
    n = len(ids)
    kp = np.zeros((n, 17, 3), np.float32)
    kp[:, :, 0] = np.arange(17) + index
    kp[:, :, 1] = 10.5
    kp[:, :, 2] = 0.5
    poses = Poses(np.tile([[1, 2, 30, 40]], (n, 1)), np.full(n, 0.9), kp, np.full(n, 0.45), COCO17)
    return FrameResult(index, index / 10, Tracks(poses, ids, np.arange(n)))


def write_stream(path, frames, finish=True):
    with JsonlStream(path, {"video": {"path": "v.mp4"}, "models": {"skeleton": "coco17"}}) as s:
        for f in frames:
            s.write(f)
        if finish:
            s.finish(truncated=False)


def test_final_json_prunes_one_frame_tracklets_and_summarises(tmp_path):
    stream_path = tmp_path / "t.jsonl"
    write_stream(stream_path, [result(0, [1, 2]), result(1, [1]), result(2, [1, 3]), result(3, [3])])
    stats = write_tracks_json(read_stream(stream_path), tmp_path / "t.json", min_track_length=2)
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["schema"] == SCHEMA and doc["video"] == {"path": "v.mp4"}
    assert [[p["track_id"] for p in f["people"]] for f in doc["frames"]] == [[1], [1], [1, 3], [3]]
    assert doc["tracks"] == [{"track_id": 1, "first_frame": 0, "last_frame": 2, "length": 3},
                             {"track_id": 3, "first_frame": 2, "last_frame": 3, "length": 2}]
    assert stats == {"frames": 4, "people": 5, "tracks": 2, "pruned_tracklets": 1, "complete": True,
                     "truncated": False}
    person = doc["frames"][2]["people"][1]
    assert person["keypoints"][16] == [18.0, 10.5, 0.5] and person["box_xyxy"] == [1, 2, 30, 40]


def test_round_trip_through_dicts(tmp_path):
    stream_path = tmp_path / "t.jsonl"
    original = result(5, [7, 9])
    write_stream(stream_path, [original])
    back = frame_from_dict(next(read_stream(stream_path).frames()))
    assert back.frame_index == 5 and back.time_s == 0.5
    assert back.tracks.track_ids.tolist() == [7, 9]
    np.testing.assert_allclose(back.tracks.poses.keypoints, original.tracks.poses.keypoints)


def test_interrupted_stream_keeps_finished_frames(tmp_path):
    stream_path = tmp_path / "t.jsonl"
    write_stream(stream_path, [result(0, [1]), result(1, [1])], finish=False)
    with open(stream_path, "a") as fh:
        fh.write('{"type": "frame", "frame_ind')  # a line cut by a crash
    stream = read_stream(stream_path)
    assert stream.end is None
    assert [f["frame_index"] for f in stream.frames()] == [0, 1]
    stats = write_tracks_json(stream, tmp_path / "t.json", 2)
    assert stats["complete"] is False and stats["frames"] == 2


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device whose writes fail, ENOSPC)")
@pytest.mark.parametrize("fails_at", ["header", "frame"])
def test_a_full_disk_is_one_error_and_the_file_is_closed(tmp_path, monkeypatch, fails_at):
    """A stream on /dev/full: the failed write is an OutputError, and the file is closed then, not later by the
    garbage collector (whose close would retry the unflushed line and fail where nobody can report it)."""

    def open_on_dev_full() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == "/dev/full") if fds.is_dir() else 0

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    path = tmp_path / "t.jsonl"
    if fails_at == "header":
        path.symlink_to("/dev/full")
        with pytest.raises(OutputError, match="No space left on device"):
            with JsonlStream(path, {"fps": 10}):
                pass
    else:
        stream = JsonlStream(path, {"fps": 10})
        with pytest.raises(OutputError, match=r"No space left on device \(frames so far are kept\)"):
            with stream:
                stream._fh.close()  # the disk fills up after the header: the stream's file becomes /dev/full
                stream._fh = open("/dev/full", "w", encoding="utf-8")
                stream.write(result(0, [1]))
        assert stream._fh is None
    assert open_on_dev_full() == 0
    gc.collect()
    assert unraisable == []


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("new half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_atomic_write_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        with atomic_write(blocker / "sub" / "out.json") as fh:
            fh.write("x")


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "p.json") as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644

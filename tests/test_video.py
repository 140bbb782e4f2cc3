import numpy as np
import pytest

from conftest import EXAMPLE_CLIP, write_video
from posetrack_cli.errors import InputError
from posetrack_cli.video import VideoSink, find_videos, iter_frames, probe


def test_probe_bundled_clip():
    info = probe(EXAMPLE_CLIP)
    assert (info.width, info.height, info.fps, info.frame_count) == (768, 576, 10.0, 795)


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no such file"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    (lambda p: (p.write_text("this is not a video\n" * 50), p)[1], "cannot decode"),
])
def test_probe_bad_inputs(tmp_path, make, message):
    path = make(tmp_path / "clip.mp4")
    with pytest.raises(InputError, match=message):
        probe(path)


def test_probe_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        probe(tmp_path)


def test_iter_frames_streams_and_converts_grayscale(tmp_path):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(6)]
    info = probe(write_video(tmp_path / "v.avi", frames, fps=7))
    assert info.fps == 7 and info.frame_count == 6
    got = list(iter_frames(info, max_frames=4))
    assert [i for i, _ in got] == [0, 1, 2, 3]
    assert got[2][1].shape == (48, 64, 3) and abs(int(got[2][1].mean()) - 20) <= 2


def test_video_sink_writes_at_fps_and_renames(tmp_path):
    out = tmp_path / "o.mp4"
    with VideoSink(out, 12.5, (64, 48)) as sink:
        for i in range(5):
            sink.write(np.full((48, 64, 3), i * 40, np.uint8))
    info = probe(out)
    assert (info.fps, info.frame_count, info.width, info.height) == (12.5, 5, 64, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_find_videos_skips_hidden_and_junk(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["x.mp4", "a/y.AVI", "a/b/z.mkv", "notes.txt", ".hidden/h.mp4", ".dot.mp4"]:
        (tmp_path / name).write_bytes(b"0")
    assert [p.relative_to(tmp_path).as_posix() for p in find_videos(tmp_path)] == ["a/b/z.mkv", "a/y.AVI", "x.mp4"]

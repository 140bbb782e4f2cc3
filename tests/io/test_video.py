import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXAMPLE_CLIP, write_video
from videogen import ffmpeg, ffmpeg_or_skip, lavfi_video

from posetrack_cli.errors import InputError, OutputError
from posetrack_cli.io import ffmpeg as media
from posetrack_cli.io.sources import iter_frames, iter_timed_frames, probe, scan_folder, truncation_note
from posetrack_cli.io.video import VideoSink, upright
from posetrack_cli.records import VideoInfo


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


def test_scan_folder_skips_hidden_and_junk(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["x.mp4", "a/y.AVI", "a/b/z.mkv", "notes.txt", ".hidden/h.mp4", ".dot.mp4"]:
        (tmp_path / name).write_bytes(b"0")
    found = [p.relative_to(tmp_path).as_posix() for p in scan_folder(tmp_path).videos]
    assert found == ["a/b/z.mkv", "a/y.AVI", "x.mp4"]


# ------------------------------------------------------------------------------------- rotation, timing, truncation
@pytest.mark.parametrize("rotation, k", [(0, 0), (90, -1), (180, 2), (270, 1)])
def test_upright_turns_clockwise(rotation, k):
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(upright(image, rotation), np.rot90(image, k))


def test_rotated_phone_video_is_decoded_upright(tmp_path):
    source = lavfi_video(tmp_path / "plain.mp4", 1.0, size="64x48")
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", source, "-c", "copy", rotated)  # shown turned 90 degrees anticlockwise
    info = probe(rotated)
    assert (info.width, info.height, info.rotation, info.frame_count) == (48, 64, 270, 10)
    assert info.to_dict()["rotation"] == 270
    plain = [f for _, f in iter_frames(probe(source))]
    turned = [f for _, f in iter_frames(info)]
    assert len(turned) == 10 and all(np.array_equal(t, np.rot90(p, 1)) for p, t in zip(plain, turned))


def test_frame_times_follow_the_container(tmp_path):
    info = probe(write_video(tmp_path / "v.avi", [np.zeros((48, 64, 3), np.uint8)] * 5, fps=8))
    assert [(f.index, f.time_s) for f in iter_timed_frames(info)] == [(i, pytest.approx(i / 8)) for i in range(5)]


@pytest.mark.parametrize("count, decoded, last_time, max_frames, truncated", [
    (20, 20, 1.9, None, False),
    (20, 19, 1.8, None, False),  # containers may announce one frame more than they hold
    (20, 12, 1.1, None, True),
    (20, 12, 1.1, 12, False),  # stopped by --max-frames
    (20, 8, 0.7, 12, True),
    (56, 20, 5.5, None, False),  # Matroska VFR: 56 = duration x nominal fps; the last frame reached the end
    (0, 7, 0.6, None, False),  # a stream that announces nothing
])
def test_truncation_note(count, decoded, last_time, max_frames, truncated):
    info = VideoInfo("v.mkv", 10.0, 64, 48, count)
    note = truncation_note(info, decoded, last_time, max_frames)
    assert bool(note) is truncated
    if truncated:
        assert note.startswith(f"truncated: decoded {decoded} of {min(count, max_frames or count)} announced")


# ------------------------------------------------------------------------------------------------------ VideoSink
def sink_video(path, fps, size, n=6, **kw):
    with VideoSink(path, fps, size, **kw) as sink:
        for i in range(n):
            sink.write(np.full((size[1], size[0], 3), 30 * i, np.uint8))
    return sink


def test_video_sink_h264_at_exact_ntsc_rate(tmp_path):
    ffmpeg_or_skip()
    fps = 30000 / 1001
    sink = sink_video(tmp_path / "o.mp4", fps, (64, 48))
    assert sink.codec == "h264" and media.stream_facts(tmp_path / "o.mp4").video_codec.startswith("h264")
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == fps and cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    assert [abs(cap.read()[1].mean() - 30 * i) <= 4 for i in range(6)] == [True] * 6
    cap.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_video_sink_without_ffmpeg_writes_mp4v(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "ffmpeg_exe", lambda: None)
    sink = sink_video(tmp_path / "o.mp4", 10.0, (64, 48))
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    assert sink.codec == "mp4v" and fourcc.lower() in ("mp4v", "fmp4")  # MPEG-4 part 2 as OpenCV tags it
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    cap.release()


def test_failing_h264_encoder_leaves_nothing_and_render_falls_back_to_mp4v(tmp_path, monkeypatch, caplog):
    from posetrack_cli.render import render_video

    monkeypatch.setattr(media, "ffmpeg_exe", lambda: shutil.which("false"))  # an "ffmpeg" that exits 1 at once
    with pytest.raises(media.MediaError, match="ffmpeg"):
        sink_video(tmp_path / "o.mp4", 10.0, (64, 48), n=40)
    assert list(tmp_path.iterdir()) == []
    with caplog.at_level(logging.WARNING):
        assert render_video(probe(EXAMPLE_CLIP), [], tmp_path / "o.mp4", max_frames=6) == 6
    assert "writing it as MPEG-4 part 2 (mp4v)" in caplog.text
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower() in ("mp4v", "fmp4")
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    cap.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_failed_audio_mux_keeps_the_h264_overlay_without_audio(tmp_path, monkeypatch):
    ffmpeg_or_skip()

    def broken(*args, **kwargs):
        raise media.MediaError("ffmpeg exit 1: Unknown encoder 'aac'")

    monkeypatch.setattr(media, "mux_audio", broken)
    sink = sink_video(tmp_path / "o.mp4", 10.0, (64, 48), audio_from=EXAMPLE_CLIP)
    facts = media.stream_facts(tmp_path / "o.mp4")
    assert sink.codec == "h264" and facts.video_codec.startswith("h264") and facts.audio_codec is None
    assert probe(tmp_path / "o.mp4").frame_count == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_video_sink_pads_odd_sizes(tmp_path):
    sink_video(tmp_path / "o.avi", 10.0, (63, 47), n=2)
    info = probe(tmp_path / "o.avi")
    assert (info.width, info.height, info.frame_count) == (64, 48, 2)


class _LossyWriter:
    """An OpenCV writer on a full disk: it accepts frames and silently drops them."""

    def __init__(self, writer):
        self.writer = writer

    def write(self, frame):
        pass

    def release(self):
        self.writer.release()


def test_video_sink_reports_frames_that_never_reached_the_file(tmp_path):
    with pytest.raises(OutputError, match=r"0 of 3 frames reached the file"):
        with VideoSink(tmp_path / "o.mp4", 10.0, (64, 48), h264=False) as sink:
            sink._writer = _LossyWriter(sink._writer)
            for _ in range(3):
                sink.write(np.zeros((48, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_h264_sink_reports_frames_that_never_reached_the_file(tmp_path):
    ffmpeg_or_skip()
    with pytest.raises(OutputError, match=r"2 of 3 frames reached the file"):
        with VideoSink(tmp_path / "o.mp4", 10.0, (64, 48)) as sink:
            encode = sink._encoder.write
            sink._encoder.write = lambda frame: None if frame[0, 0, 0] == 1 else encode(frame)  # frame 1 is lost
            for i in range(3):
                sink.write(np.full((48, 64, 3), i, np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_video_sink_discards_the_partial_file_on_error(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with VideoSink(tmp_path / "o.mp4", 10.0, (64, 48)) as sink:
            sink.write(np.zeros((48, 64, 3), np.uint8))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------------- folders
def test_scan_folder_lists_broken_links_and_reports_unlisted_folders(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "v.mp4").write_bytes(b"0")
    (tmp_path / "ok.mp4").write_bytes(b"0")
    (tmp_path / "dead.mkv").symlink_to(tmp_path / "nowhere.mkv")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == tmp_path / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_folder(tmp_path)
    assert [p.name for p in scan.videos] == ["dead.mkv", "ok.mp4"] and scan.unreadable == [tmp_path / "locked"]
    with pytest.raises(InputError, match="broken symbolic link"):
        probe(tmp_path / "dead.mkv")

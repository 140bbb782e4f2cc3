"""Overlays: the pure drawing function, and playable videos at the source fps and frame count, with the source audio
and upright when the source carries a rotation."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from videogen import ffmpeg, ffmpeg_or_skip, lavfi_video

from posetrack_cli.io import ffmpeg as media
from posetrack_cli.io.sources import iter_frames, probe
from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks
from posetrack_cli.render import draw_tracks, render_video, track_color


def person(track_ids: list[int], boxes: list[list[float]], score: float = 0.9, index: int = 0) -> FrameResult:
    n = len(track_ids)
    kp = np.zeros((n, 17, 3), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        kp[i, :, 0] = np.linspace(x1 + 2, x2 - 2, 17)
        kp[i, :, 1] = np.linspace(y1 + 2, y2 - 2, 17)
        kp[i, :, 2] = score
    poses = Poses(np.array(boxes, np.float32).reshape(-1, 4), np.ones(n, np.float32), kp, np.ones(n, np.float32),
                  COCO17)
    return FrameResult(index, index / 10, Tracks(poses, np.array(track_ids, np.int64), np.arange(n)))


def test_track_colours_are_stable_and_distinct():
    # golden-ratio hue steps at saturation 0.85, value 1 (HSV -> BGR by hand: id 1 has hue 0.618, sector 3, so
    # R = 1 - 0.85 = 0.15, G = 1 - 0.85 * 0.708 = 0.398, B = 1; id 2: hue 0.236, sector 1; id 3: hue 0.854, sector 5)
    assert [track_color(i) for i in (1, 2, 3)] == [(255, 101, 38), (38, 255, 164), (227, 38, 255)]
    colours = [track_color(i) for i in range(1, 21)]
    assert all(0 <= c <= 255 for colour in colours for c in colour)
    for a, b in itertools.combinations(colours[:8], 2):  # the first ids on screen are easy to tell apart
        assert np.abs(np.subtract(a, b)).sum() > 60, (a, b)


def test_draw_tracks_is_pure_and_draws_box_in_the_track_colour():
    frame = np.zeros((120, 160, 3), np.uint8)
    out = draw_tracks(frame, person([3], [[40, 30, 100, 110]]))
    assert not frame.any()  # the input is untouched
    ys, xs = np.nonzero((out == track_color(3)).all(axis=2))
    assert len(ys) > 50  # the id label and the box, in the track's colour
    assert xs.min() >= 39 and xs.max() <= 101 and ys.max() <= 111 and ys.min() >= 10  # around the box only
    assert out[70, 41:99].any(axis=1).sum() < 58 and out[70, 39:42].any()  # box outline, not a filled box
    assert out[5:25, 120:].sum() == 0  # far from the person nothing changes


def test_low_score_keypoints_are_not_drawn():
    frame = np.zeros((120, 160, 3), np.uint8)
    high = draw_tracks(frame, person([1], [[40, 30, 100, 110]], score=0.9))
    low = draw_tracks(frame, person([1], [[40, 30, 100, 110]], score=0.1))
    white = (255, 255, 255)
    assert (high == white).all(axis=2).sum() > 17 and (low == white).all(axis=2).sum() == 0


def test_empty_frame_is_copied_unchanged():
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = draw_tracks(frame, person([], []))
    assert np.array_equal(out, frame) and out is not frame


def overlay_facts(path):
    cap = cv2.VideoCapture(str(path))
    facts = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS),
             int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return facts


def test_overlay_keeps_exact_fps_frame_count_and_audio(tmp_path):
    ffmpeg_or_skip()
    source = lavfi_video(tmp_path / "src.mp4", 1.5, size="96x64", rate="30000/1001", audio=True)
    info = probe(source)
    results = [person([1], [[10, 10, 50, 60]], index=i) for i in (0, 1, 2)]
    out = tmp_path / "overlay.mp4"
    assert render_video(info, results, out) == info.frame_count
    assert overlay_facts(out) == (info.frame_count, info.fps, 96, 64)
    facts = media.stream_facts(out)
    assert facts.video_codec.startswith("h264") and facts.audio_codec.startswith("aac")
    assert facts.duration_s == pytest.approx(1.5, abs=0.1)
    drawn = [f for _, f in iter_frames(probe(out))]
    plain = [f for _, f in iter_frames(info)]
    # A frame with a result carries its drawing; frames without results are copied (up to coding loss).
    with_drawing = draw_tracks(plain[1], results[1])
    assert cv2.PSNR(drawn[1], with_drawing) > cv2.PSNR(drawn[1], plain[1]) + 3
    assert cv2.PSNR(drawn[-1], plain[-1]) > cv2.PSNR(drawn[-1], draw_tracks(plain[-1], results[1])) + 3


def test_overlay_stopped_early_cuts_the_audio_too(tmp_path):
    ffmpeg_or_skip()
    source = lavfi_video(tmp_path / "src.mp4", 2.0, size="64x48", rate="10", audio=True)
    out = tmp_path / "overlay.mp4"
    assert render_video(probe(source), [], out, max_frames=5) == 5
    assert overlay_facts(out)[0] == 5
    assert media.stream_facts(out).duration_s == pytest.approx(0.5, abs=0.08)


def test_overlay_of_a_rotated_video_is_upright_without_rotation_flag(tmp_path):
    ffmpeg_or_skip()
    stored = lavfi_video(tmp_path / "stored.mp4", 1.0, size="64x48", audio=True)
    rotated = tmp_path / "phone.mp4"
    ffmpeg("-display_rotation", "90", "-i", stored, "-c", "copy", rotated)
    out = tmp_path / "overlay.mp4"
    render_video(probe(rotated), [], out)
    assert overlay_facts(out)[::2] == (10, 48) and overlay_facts(out)[3] == 64
    facts = media.stream_facts(out)
    assert facts.rotation == 0 and facts.audio_codec is not None
    shown = next(iter_frames(probe(out)))[1]
    expected = np.rot90(next(iter_frames(probe(stored)))[1], 1)  # 90 degrees anticlockwise, as a player shows it
    assert cv2.PSNR(shown, np.ascontiguousarray(expected)) > 28


def test_overlay_without_audio_source_and_as_avi(tmp_path):
    from conftest import write_video
    from videogen import pattern_frames

    source = write_video(tmp_path / "src.avi", pattern_frames(4, 64, 48), fps=12.5)
    for name in ("o.mp4", "o.avi"):
        assert render_video(probe(source), [], tmp_path / name) == 4
        assert overlay_facts(tmp_path / name)[:2] == (4, 12.5)

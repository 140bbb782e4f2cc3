"""Chunks of long videos (no Ray needed): keyframes from the packet list, chunk plans, exact seeking, id matching
over the overlap, and a video of walking people tracked in three chunks and re-joined against the whole run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from videogen import lavfi_video, people_video

from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig, TrackConfig
from posetrack_cli.export import native
from posetrack_cli.io.sources import iter_timed_frames, probe
from posetrack_cli.pipeline import Profile, build_stages, run_video, track_video
from posetrack_cli.runs.chunks import (Chunk, chunks_for, finish_chunked, join_chunks, keyframes, match_ids,
                                       parse_framecrc, plan_chunks, run_chunk)
from posetrack_cli.track.refine.appearance import AppearanceBank

# framecrc of an H.264 stream with B-frames (decode order; pts in 1/12800 s, 512 per frame): packets without F=
# are keyframes. Display order of the pts: 0 1 2 ... so the keyframes are at display indices 0 and 4.
FRAMECRC = """#tb 0: 1/12800
0,      -1024,          0,      512,     2669, 0x5764bd94
0,       -512,       1536,      512,      155, 0x2a3c4b7a, F=0x0
0,          0,        512,      512,      135, 0x266b405d, F=0x0
0,        512,       1024,      512,      135, 0x47af3c1c, F=0x0
0,       1024,       2048,      512,      138, 0xca3f425a
0,       1536,       3072,      512,      145, 0x2ba13ec1, F=0x0
0,       2048,       2560,      512,      138, 0x4f754107, F=0x0
"""


def test_parse_framecrc_gives_display_indices_of_keyframes():
    assert parse_framecrc(FRAMECRC) == ([0, 4], 7)


@pytest.mark.parametrize("keys, frames, size, overlap, expected", [
    ([0, 30, 60, 90, 120], 150, 50, 8, [(0, 60, 68), (60, 120, 128), (120, 150, 150)]),
    ([0, 30, 60, 90, 120], 150, 30, 8, [(0, 30, 38), (30, 60, 68), (60, 90, 98), (90, 120, 128), (120, 150, 150)]),
    ([0, 30, 60], 70, 100, 8, [(0, 70, 70)]),  # not longer than a chunk
    ([0], 500, 50, 8, [(0, 500, 500)]),  # no keyframe to cut at
    ([0, 10, 20], 24, 10, 8, [(0, 10, 18), (10, 20, 24), (20, 24, 24)]),  # overlap clipped at the end
])
def test_plan_chunks(keys, frames, size, overlap, expected):
    chunks = plan_chunks(keys, frames, size, overlap)
    assert [(c.start, c.stop, c.end) for c in chunks] == expected
    assert [c.index for c in chunks] == list(range(len(expected))) and {c.count for c in chunks} == {len(expected)}


def test_keyframes_of_h264_and_exact_seek_to_them(tmp_path):
    video = lavfi_video(tmp_path / "k.mp4", 3, size="96x64", rate="10", extra=("-g", "10", "-bf", "2"))
    keys, frames = keyframes(video)
    assert frames == 30 and keys == [0, 10, 20]
    info = probe(video)
    cap = cv2.VideoCapture(str(video))
    sequential = [cap.read()[1] for _ in range(30)]
    cap.release()
    got = list(iter_timed_frames(info, 16, start=10))
    assert [f.index for f in got] == list(range(10, 16))
    assert all(np.array_equal(f.image, sequential[f.index]) for f in got)
    assert got[0].time_s == pytest.approx(1.0, abs=1e-6)
    assert chunks_for(video, 10, 3, None) == [Chunk(0, 3, 0, 10, 13), Chunk(1, 3, 10, 20, 23), Chunk(2, 3, 20, 30, 30)]
    assert chunks_for(video, 0, 3, None) is None and chunks_for(video, 40, 3, None) is None


def test_match_ids_pairs_tracks_whose_boxes_agree_over_the_overlap():
    a, b, far = [10, 10, 50, 90], [100, 10, 140, 90], [200, 100, 240, 180]
    prev = {10: {1: a, 2: b}, 11: {1: a, 2: b}, 12: {1: a}}
    head = {10: {7: b, 5: a}, 11: {7: b, 5: a, 9: far}, 12: {5: a, 9: far}}
    assert match_ids(prev, head) == {5: 1, 7: 2}  # 9 overlaps nobody: a new person
    assert match_ids(prev, {}) == {} and match_ids({}, head) == {}
    shifted = {i: {5: [x + 25 for x in a]} for i in (10, 11, 12)}  # IoU 0.23: not the same person
    assert match_ids(prev, shifted) == {}


@pytest.mark.usefixtures("one_torch_thread")
def test_three_chunks_rejoined_have_the_tracks_of_the_whole_run(tmp_path):
    video = people_video(tmp_path / "walk.avi", n=15, start=40)  # MJPG: every frame is a keyframe
    config = PipelineConfig(DetectConfig(detectors=("ssdlite",)), PoseConfig(model="yolo-crop"),
                            TrackConfig(memory_frames=3), device="cpu", frame_batch=1)
    stages = build_stages(config)
    run_video(video, tmp_path / "whole.json", stages)
    chunks = plan_chunks(list(range(15)), 15, 5, config.track.memory_frames)
    assert [(c.start, c.stop, c.end) for c in chunks] == [(0, 5, 8), (5, 10, 13), (10, 15, 15)]
    out = tmp_path / "chunked.json"
    rows = [run_chunk(str(video), out, stages, c) for c in chunks]
    assert [r.frames for r in rows] == [8, 8, 5]
    _same_histograms_as_the_whole_video(video, stages, chunks, out, tmp_path / "online.jsonl")
    result = finish_chunked(str(video), out, chunks, rows, config, None)
    whole, chunked = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "chunked"))
    assert result.status == "done" and result.frames == 15 and result.tracks == whole["stats"]["tracks"]
    assert chunked["stats"]["tracks"] == whole["stats"]["tracks"] >= 3
    assert not list(tmp_path.glob(".*.tmp"))  # the chunk streams are gone
    pairs = set()  # (whole-run id, chunked id) of the same person (same box in the same frame)
    for fw, fc in zip(whole["frames"], chunked["frames"], strict=True):
        assert fw["frame_index"] == fc["frame_index"] and fw["time_s"] == fc["time_s"]
        boxes = {tuple(p["box_xyxy"]): p["track_id"] for p in fc["people"]}
        assert len(boxes) == len(fw["people"])
        pairs |= {(p["track_id"], boxes[tuple(p["box_xyxy"])]) for p in fw["people"]}
    assert len({w for w, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)  # one id each, across borders


def _same_histograms_as_the_whole_video(video, stages, chunks, out, whole_stream):
    """The chunks' colour histograms (each over the frames it owns), added up under the joined ids, are those the
    whole video's online run gathers for the same people (paired by identical boxes)."""
    bank = AppearanceBank()
    with native.JsonlStream(whole_stream, {}) as stream:
        track_video(probe(str(video)), stages, stream, Profile(), appearance=bank)
    whole = bank.histograms()
    _, _, joined = join_chunks(probe(str(video)), chunks, out, None)
    chunked_ids = {(r["frame_index"], tuple(p["box_xyxy"])): p["track_id"]
                   for r in native.read_stream(out.with_suffix(".jsonl")).frames() for p in r["people"]}
    pairs = {(p["track_id"], chunked_ids[(r["frame_index"], tuple(p["box_xyxy"]))])
             for r in native.read_stream(whole_stream).frames() for p in r["people"]}
    assert len(pairs) >= 3 and set(joined) == {c for w, c in pairs if w in whole}  # (boxes all under 0.5: none)
    for w, c in pairs:
        if w in whole:
            np.testing.assert_allclose(joined[c], whole[w], atol=1e-6)
            assert joined[c].sum() == pytest.approx(1.0, abs=1e-5)

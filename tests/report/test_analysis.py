"""Tracks, gaps and flags of the hand-made scene (scene.py), whose answers are known by construction."""

import numpy as np
from scene import FPS, SEEN, tracks_doc

from posetrack_cli.report.analysis import flags, mean_score_per_frame, summarise_tracks
from posetrack_cli.report.data import run_from_dict


def scene_run():
    return run_from_dict(tracks_doc())


def test_tracks_segments_and_lengths():
    tracks = {t.track_id: t for t in summarise_tracks(scene_run())}
    assert sorted(tracks) == [1, 2, 3, 4]
    assert tracks[3].segments == [(5, 11), (16, 29)]
    assert tracks[1].segments == [(0, 14)] and tracks[4].segments == [(20, 21)]
    assert {t: tracks[t].length for t in tracks} == {t: len(SEEN[t]) for t in SEEN}


def test_series():
    run = scene_run()
    counts = run.people_per_frame
    assert counts[15] == 0 and counts[8] == 2 and counts[20] == 3  # #1 and #3; #2, #3 and #4
    assert np.isclose(mean_score_per_frame(run)[8], (0.9 + 0.2) / 2, atol=1e-6)
    assert mean_score_per_frame(run)[15] == 0


def test_flags_of_the_scene():
    run = scene_run()
    groups = {g["kind"]: g for g in flags(run, summarise_tracks(run))}
    handover = groups["handover"]["items"]
    assert [(f["other"], f["track"], f["frame"]) for f in handover] == [(1, 2, 17)]
    assert "0.3 s later 54 px away" in handover[0]["text"]
    assert [f["track"] for f in groups["short"]["items"]] == [4]  # 2 frames < 1 s at 10 fps
    low = groups["low"]["items"]
    assert [(f["track"], f["frame"]) for f in low] == [(3, 5)] and "0:00.5 to 0:02.9" in low[0]["text"]
    assert [f["frame"] for f in groups["empty"]["items"]] == [15]
    assert all(g["total"] == len(g["items"]) for g in groups.values())


def test_no_handover_beyond_a_second():
    doc = tracks_doc()
    for frame in doc["frames"]:  # #2 now begins 1.5 s after #1 ended
        frame["people"] = [p for p in frame["people"] if p["track_id"] != 2 or frame["frame_index"] >= 14 + 15]
    run = run_from_dict(doc)
    groups = {g["kind"]: g for g in flags(run, summarise_tracks(run))}
    assert groups["handover"]["total"] == 0 and FPS == 10

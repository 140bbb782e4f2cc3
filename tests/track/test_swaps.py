"""Swap repair (track.refine.swaps) and the stitching of one-frame tracklets, on hand-made walkers whose right
answers are known: two people crossing whose tracks exchanged them, for good or for one frame, are given back; people
walking side by side are left alone; a one-frame tracklet joins only on agreeing appearance."""

from __future__ import annotations

import numpy as np
import pytest
from walkers import CFG, FPS, results_of, walker

from posetrack_cli.config import RefineConfig
from posetrack_cli.records import COCO17
from posetrack_cli.track.refine import refine_tracks
from posetrack_cli.track.refine.stitch import join_cost
from posetrack_cli.track.refine.swaps import best_labels, repair_pair, repair_swaps
from posetrack_cli.track.refine.tracklets import Tracklet


def _exchanged(a: Tracklet, b: Tracklet, frames) -> tuple[Tracklet, Tracklet]:
    """``a`` and ``b`` (same frames) with their entries at ``frames`` exchanged, as an online tracker that swapped the
    two people there would give them (each entry keeps the row it came from)."""
    a, b = a.take(np.arange(len(a))), b.take(np.arange(len(b)))
    rows = np.isin(a.frames, list(frames))
    for f in ("boxes_xyxy", "box_scores", "keypoints", "scores", "rows"):
        xa, xb = getattr(a, f), getattr(b, f)
        xa[rows], xb[rows] = xb[rows].copy(), xa[rows].copy()
    return a, b


def _crossing():
    # a walks right from x=100, b left from x=140 (4 px/frame), 10 px apart in y: they pass at frame 5
    a, b = walker(1, range(20), 100, 4, y=200), walker(2, range(20), 140, -4, y=210)
    a.rows, b.rows = np.zeros(20, np.int64), np.ones(20, np.int64)
    return a, b


def test_best_labels_by_hand():
    # two points at x = 0, 1, 2, 3 and x = 10, 9, 8, 7 (y 0), the observations exchanged from the third on
    frames = np.arange(4)
    a = np.array([[0.0, 0], [1, 0], [8, 0], [7, 0]])
    b = np.array([[10.0, 0], [9, 0], [2, 0], [3, 0]])
    labels, cost, kept = best_labels(a, b, frames)
    assert labels.tolist() == [False, False, True, True]
    assert cost == pytest.approx(0.0)
    # as observed, a: 0, 1, 8, 7 -> velocities 1, 7, -1 -> (7 - 1)^2 + (-1 - 7)^2 = 100; b: 10, 9, 2, 3 -> the same
    assert kept == pytest.approx(200.0)


def test_tracks_that_exchanged_two_crossing_people_are_given_them_back():
    a, b = _crossing()
    sa, sb = _exchanged(a, b, range(6, 20))  # from frame 6 on, track 1 follows the left-walker
    ra, rb, swapped = repair_pair(sa, sb)
    assert swapped
    assert np.allclose(ra.keypoints, a.keypoints) and np.allclose(rb.keypoints, b.keypoints)
    assert ra.rows.tolist() == [0] * 20 and rb.rows.tolist() == [1] * 20  # each entry keeps its source row
    assert ra.track_id == 1 and rb.track_id == 2


def test_a_swap_of_one_frame_is_undone_and_nothing_else_moves():
    a, b = _crossing()
    sa, sb = _exchanged(a, b, [6])
    ra, rb, swapped = repair_pair(sa, sb)
    assert swapped and np.allclose(ra.keypoints, a.keypoints) and np.allclose(rb.keypoints, b.keypoints)


def test_people_walking_side_by_side_are_left_alone():
    # 25 px apart (within 0.3 x 110 px), both walking right, 1 px of noise on every joint: exchanging them anywhere
    # adds a 25 px jump, so no labelling beats the observations
    rng = np.random.default_rng(0)
    a, b = walker(1, range(30), 100, 4, y=200), walker(2, range(30), 100, 4, y=225)
    for t in (a, b):
        t.keypoints[:, :, :2] += rng.normal(0, 1.0, t.keypoints[:, :, :2].shape)
    ra, rb, swapped = repair_pair(a, b)
    assert not swapped and ra is a and rb is b
    out, repaired = repair_swaps([a, b, walker(3, range(40, 50), 0, 4)])
    assert repaired == 0 and out[0] is a and out[1] is b


def test_refine_gives_the_people_back_in_the_frames_it_writes():
    a, b = _crossing()
    sa, sb = _exchanged(a, b, range(6, 20))
    results = results_of([sa, sb], 20)  # frame rows: track 1 first (row 0), track 2 second (row 1)
    refined = refine_tracks(results, FPS, RefineConfig(smooth_cutoff_hz=0), COCO17, min_track_length=2)
    assert refined.stats["swaps"] == 1
    for k, r in enumerate(refined.results):
        ids, kp = r.tracks.track_ids.tolist(), r.tracks.poses.keypoints
        assert kp[ids.index(1), 0, 0] == pytest.approx(100 + 4 * k + 0)  # nose x of the right-walker
        assert kp[ids.index(2), 0, 0] == pytest.approx(140 - 4 * k)
        # pose_index: the row each entry had in its online frame (the right-walker was row 1 from frame 6 on)
        assert r.tracks.pose_index[ids.index(1)] == (0 if k < 6 else 1)
    off = refine_tracks(results, FPS, RefineConfig(smooth_cutoff_hz=0, repair_swaps=False), COCO17, 2)
    assert off.stats["swaps"] == 0 and off.results[10].tracks.poses.keypoints[0, 0, 0] == pytest.approx(140 - 40)


def test_a_one_frame_tracklet_joins_only_on_agreeing_appearance():
    once, later = walker(1, [10], 100, 4), walker(2, range(20, 40), 100, 4)  # where the walker would be
    red = np.r_[1.0, 0, 0, 0]
    near_red = np.r_[0.7, 0.3, 0, 0]  # Hellinger to red: sqrt(1 - sqrt(0.7)) = 0.405 (<= 0.5)
    far_red = np.r_[0.3, 0.7, 0, 0]  # sqrt(1 - sqrt(0.3)) = 0.673 (under the 0.75 gate of longer tracklets)
    assert join_cost(once, later, CFG, {}) == np.inf  # a single frame has no motion to go by
    assert join_cost(once, later, CFG, {1: red, 2: far_red}) == np.inf
    assert join_cost(once, later, CFG, {1: red, 2: near_red}) < 2.0
    longer = walker(1, [9, 10], 100, 4)
    assert join_cost(longer, later, CFG, {1: red, 2: far_red}) < np.inf


def test_refine_keeps_a_one_frame_tracklet_it_joins_and_drops_the_others():
    once, later, ghost = walker(1, [10], 100, 4), walker(2, range(20, 40), 100, 4), walker(3, [30], 600, 0)
    red = np.r_[1.0, 0, 0, 0]
    refined = refine_tracks(results_of([once, later, ghost], 40), FPS, RefineConfig(fill_gap=0, smooth_cutoff_hz=0),
                            COCO17, min_track_length=2, appearance={1: red, 2: red, 3: red})
    assert refined.id_map == {1: 1, 2: 1}
    assert refined.stats["dropped"] == 1 and refined.stats["joins"] == 1
    assert [r.tracks.track_ids.tolist() for r in refined.results][10] == [1]
    assert all(3 not in r.tracks.track_ids.tolist() for r in refined.results)

"""The refinement pass: stitching (costs, gates, one global assignment), gap filling, zero-phase confidence-weighted
smoothing, on hand-made tracklets whose right answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from walkers import CFG, FIGURE, FPS, results_of, walker

from posetrack_cli.config import RefineConfig
from posetrack_cli.records import COCO17
from posetrack_cli.track.refine import refine_tracks
from posetrack_cli.track.refine.fill import fill_gaps
from posetrack_cli.track.refine.smooth import leaned_scores, local_linear, sigma_for_cutoff, smooth_track, stretches
from posetrack_cli.track.refine.stitch import hellinger, join_cost, solve_joins, stitch, velocity


def test_velocity_by_hand():
    # x = 1, 3, 5 at t = 0, 1, 2 s: slope 2 px/s; y constant
    assert velocity(np.array([0.0, 1, 2]), np.array([[1.0, 7], [3, 7], [5, 7]])).tolist() == [2.0, 0.0]
    assert velocity(np.array([4.0]), np.array([[1.0, 1]])).tolist() == [0.0, 0.0]


def test_hellinger_by_hand():
    p, q = np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5])
    assert hellinger(p, p) == 0.0 and hellinger(p, q) == 1.0
    # sum sqrt(p q) = sqrt(0.5 * 0.25) * 2 = 0.7071 -> sqrt(1 - 0.7071) = 0.5412
    assert hellinger(p, np.array([0.25, 0.25, 0.25, 0.25])) == pytest.approx(math.sqrt(1 - math.sqrt(0.5)))


def test_a_walker_hidden_for_15_frames_is_joined():
    a, b = walker(1, range(20), 100, 4), walker(2, range(35, 60), 100, 4)
    # both ends extrapolate to the same place (x = 100 + 4 * 27): no motion, scale or shape cost
    assert join_cost(a, b, CFG, {}) == pytest.approx(0.0, abs=1e-9)
    tracks, ids = stitch([a, b], CFG)
    assert len(tracks) == 1 and tracks[0].track_id == 1 and ids == {1: 1, 2: 1}
    assert tracks[0].frames.tolist() == list(range(20)) + list(range(35, 60))


def test_gates_refuse_far_away_other_size_overlapping_too_late_and_other_clothes():
    a = walker(1, range(20), 100, 4)
    far = walker(2, range(25, 40), 400, 4)  # at x=500 at frame 25, where a would be at x=200: 2.7 heights off
    big = walker(3, range(25, 40), 100, 4)
    big.boxes_xyxy = big.boxes_xyxy + [[-30, -55, 30, 55]]  # twice as tall, same centre
    overlapping = walker(4, range(15, 30), 100, 4)
    late = walker(5, range(41, 60), 100, 4)  # starts 2.2 s after a's end (frame 19)
    assert all(join_cost(a, t, CFG, {}) == np.inf for t in (far, big, overlapping, late))
    other = walker(6, range(25, 40), 100, 4)
    red, blue = np.r_[1.0, 0, 0, 0], np.r_[0, 0, 0, 1.0]
    assert join_cost(a, other, CFG, {1: red, 6: blue}) == np.inf
    assert join_cost(a, other, CFG, {1: red, 6: red}) < 1.0


def test_joins_are_solved_at_once():
    # greedy would take the cheapest join (end 0 - start 0) and leave end 1 alone; one assignment joins both
    assert sorted(solve_joins(np.array([[0.1, 0.2], [0.3, np.inf]]), 2.0)) == [(0, 1), (1, 0)]


def test_people_crossing_while_hidden_keep_their_ids():
    # a walks right from x=150, b left from x=250 (4 px/frame); hidden from frame 10 to 24, they cross at frame 12.5:
    # at frame 25 a is at x=250 (where b was last seen) and b at x=150. Motion puts them back right.
    a, b = walker(1, range(10), 150, 4), walker(2, range(10), 250, -4)
    c, d = walker(3, range(25, 35), 150, 4), walker(4, range(25, 35), 250, -4)
    _, ids = stitch([a, b, c, d], CFG)
    assert ids == {1: 1, 3: 1, 2: 2, 4: 2}


def test_solve_joins_respects_max_cost():
    cost = np.array([[0.5, np.inf], [np.inf, 3.0]])
    assert solve_joins(cost, 2.0) == [(0, 0)]


def test_fill_gaps_interpolates_with_lowered_scores():
    t = walker(1, [0, 4], 0, 10)  # x = 0 at frame 0, 40 at frame 4
    t.keypoints[1, :, 2] = 0.6
    filled, n = fill_gaps(t, np.arange(10), max_frames=3, score_factor=0.5)
    assert n == 3 and filled.frames.tolist() == [0, 1, 2, 3, 4]
    assert filled.interpolated.tolist() == [False, True, True, True, False]
    assert filled.keypoints[1:4, 0, 0].tolist() == [10.0, 20.0, 30.0]  # nose x: 0 + 10 k
    assert np.allclose(filled.keypoints[1:4, :, 2], 0.3)  # min(0.9, 0.6) x 0.5
    assert np.allclose(filled.scores[1:4], 0.45)


def test_fill_gaps_leaves_long_gaps_and_frames_the_video_lacks():
    t = walker(1, [0, 5], 0, 10)
    assert fill_gaps(t, np.arange(10), max_frames=3, score_factor=0.5)[1] == 0  # 4 missing > 3
    filled, n = fill_gaps(t, np.array([0, 2, 5]), max_frames=3, score_factor=0.5)
    assert n == 1 and filled.frames.tolist() == [0, 2, 5] and filled.keypoints[1, 0, 0] == 20.0


def test_sigma_for_cutoff_gives_half_power_there():
    sigma = sigma_for_cutoff(2.0)
    assert math.exp(-2 * math.pi ** 2 * sigma ** 2 * 2.0 ** 2) == pytest.approx(1 / math.sqrt(2))


def test_smoothing_keeps_lines_and_halves_power_at_the_cutoff():
    fps, cutoff = 200.0, 2.0
    t = np.arange(2000) / fps
    line = 3.0 + 5.0 * t
    ones = np.ones_like(t)
    assert np.allclose(local_linear(t, line, ones, sigma_for_cutoff(cutoff)), line)  # zero phase, no end bias
    wave = np.sin(2 * np.pi * cutoff * t)
    out = local_linear(t, wave, ones, sigma_for_cutoff(cutoff))
    mid = slice(500, 1500)
    gain = np.abs(out[mid]).max()
    assert gain == pytest.approx(1 / math.sqrt(2), abs=0.01)
    assert np.allclose(out[mid], gain * wave[mid], atol=2e-3)  # the same wave, scaled: no lag


def test_low_confidence_joints_lean_on_their_neighbours():
    t = walker(1, range(21), 100, 5)
    t.keypoints[10, 0, :] = [t.keypoints[10, 0, 0] + 40, t.keypoints[10, 0, 1], 0.0]  # a wrong, unsure nose
    smoothed = smooth_track(t, FPS, 2.5)
    truth = 100 + 5 * 10 + FIGURE[0, 0]
    # pulled back from 40 px off to the line: its weight (the 0.001 floor) against 0.9 x exp(-(0.1 s)^2 / 2 sigma^2)
    # of each neighbour leaves 40 x 0.001 / 0.3 = 0.13 px
    assert abs(smoothed.keypoints[10, 0, 0] - truth) < 0.2
    assert np.allclose(smoothed.keypoints[:, 5:, :2], t.keypoints[:, 5:, :2])  # confident straight motion kept
    assert np.array_equal(smoothed.keypoints[:, :, 2], t.keypoints[:, :, 2])  # scores untouched
    leaned = smooth_track(t, FPS, 2.5, lean_scores=True)
    assert np.allclose(leaned.keypoints[:, :, :2], smoothed.keypoints[:, :, :2])  # the same places
    # the nose of frame 10, placed by its neighbours (all scored 0.9), takes their score; the rest keep theirs
    assert leaned.keypoints[10, 0, 2] == pytest.approx(0.9)
    others = np.ones(leaned.keypoints.shape[:2], bool)
    others[10, 0] = False
    assert np.array_equal(leaned.keypoints[:, :, 2][others], t.keypoints[:, :, 2][others])


def test_leaned_scores_by_hand():
    times, sigma = np.array([0.0, 0.1, 0.2, 1.0]), 0.1
    # joint 0: 0.9, 0.1, 0.7, 0.5: the middle one (< 0.3) takes the mean of its neighbours 0.1 s away on either side
    # (equal weights exp(-0.5); the entry 0.9 s away is beyond 3 sigma): (0.9 + 0.7) / 2 = 0.8. The others are >= 0.3
    # and keep theirs.
    # joint 1: 0.1, 0.2, 0.1, 0.1: the first takes (0.2 e^-0.5 + 0.1 e^-2) / (e^-0.5 + e^-2) = 0.18176 (higher); the
    # second keeps 0.2 (its neighbours' 0.1 is lower); the third, mirrored, takes the same 0.18176 as the first; the
    # last has no neighbour within 3 sigma and keeps 0.1.
    scores = np.array([[0.9, 0.1], [0.1, 0.2], [0.7, 0.1], [0.5, 0.1]])
    out = leaned_scores(times, scores, sigma)
    edge = (0.2 * math.exp(-0.5) + 0.1 * math.exp(-2)) / (math.exp(-0.5) + math.exp(-2))
    assert out[:, 0].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.5])
    assert out[:, 1].tolist() == pytest.approx([edge, 0.2, edge, 0.1])
    assert edge == pytest.approx(0.18176, abs=1e-5)




def test_refine_tracks_end_to_end():
    # one walker seen as ids 1 (frames 0-19) and 2 (24-39); a one-frame ghost (id 3) is dropped before stitching
    a, b, ghost = walker(1, range(20), 100, 4), walker(2, range(24, 40), 100, 4), walker(3, [22], 500, 0)
    refined = refine_tracks(results_of([a, b, ghost], 40), FPS, RefineConfig(fill_gap=5, smooth_cutoff_hz=0), COCO17,
                            min_track_length=2)
    assert refined.stats == {"tracklets": 3, "swaps": 0, "dropped": 1, "joins": 1, "tracks": 1, "filled": 4}
    assert refined.id_map == {1: 1, 2: 1}
    assert [r.tracks.track_ids.tolist() for r in refined.results] == [[1]] * 40
    assert [bool(f[0]) for f in refined.interpolated] == [False] * 20 + [True] * 4 + [False] * 16
    assert refined.results[22].tracks.poses.keypoints[0, 0, 0] == pytest.approx(100 + 4 * 22)


def test_refine_with_nothing_to_do_changes_nothing():
    a = walker(1, range(10), 100, 4)
    results = results_of([a], 10)
    refined = refine_tracks(results, FPS, RefineConfig(smooth_cutoff_hz=0), COCO17, min_track_length=2)
    for r, o in zip(refined.results, results):
        assert np.array_equal(r.tracks.poses.keypoints, o.tracks.poses.keypoints)


def test_confident_joints_move_at_most_a_twenty_fifth_of_their_height():
    # a walker bouncing off a wall at frame 10 (x = 100 + 8 k, then back): the corner is motion, not jitter; the
    # smoothing may cut it by at most 0.04 x 110 px = 4.4 px
    t = walker(1, range(21), 100, 8)
    t.keypoints[11:, :, 0] -= 16 * (np.arange(11, 21) - 10)[:, None]
    moved = np.abs(smooth_track(t, FPS, 2.5).keypoints[:, :, 0] - t.keypoints[:, :, 0])
    assert 1.0 < moved.max() <= 0.04 * 110 + 1e-9


def test_a_few_frames_on_another_person_do_not_drag_the_rest():
    # frames 8-9 of the track hold another person 200 px away (an id swap). Scores 0.2, so no shift limit applies:
    # a plain fit would drag frame 7 by 200 x 0.17 / 1.17 = 29 px toward frame 8 (Gaussian weight of one frame at
    # 2.5 Hz: exp(-0.5 (0.1 / 0.053)^2) = 0.17). The reweighted fit leaves frames 8-9 out: frame 7 then rests on
    # frame 6 alone (the window at 10 fps spans one frame each side), one frame's motion (4 px) behind.
    t = walker(1, range(21), 100, 4, score=0.2)
    t.keypoints[8:10, :, 0] += 200
    off = smooth_track(t, FPS, 2.5).keypoints[:, :, 0] - t.keypoints[:, :, 0]
    assert np.abs(off[[7, 10]]).max() == pytest.approx(4.0)
    assert np.abs(off[[5, 6, 11, 12]]).max() < 1e-9 and np.abs(off[8:10]).max() < 1e-9


def test_stretches_end_where_the_track_jumps_or_turns_sharply():
    # 110 px tall walkers (MAX_JUMP 0.15 -> 16.5 px off the straight continuation ends a stretch)
    steady = walker(1, range(12), 100, 8)
    assert stretches(steady) == [slice(0, 12)]
    jumped = walker(1, range(12), 100, 4)
    jumped.keypoints[7:, :, 0] += 30  # from frame 7 on, another person 30 px to the right: 30 px off
    assert stretches(jumped) == [slice(0, 7), slice(7, 12)]
    turned = walker(1, range(12), 100, 9)
    turned.keypoints[6:, :, 0] -= 18 * (np.arange(6, 12) - 5)[:, None]  # 9 px/frame, then -9 from frame 6: 18 px off
    assert stretches(turned) == [slice(0, 6), slice(6, 12)]
    gap = walker(1, [0, 1, 2, 6, 7], 100, 5)  # a gap of 3 frames at the same speed is the straight continuation
    assert stretches(gap) == [slice(0, 5)]
    blip = walker(1, range(12), 100, 4)
    blip.keypoints[5, :, 0] += 30  # one frame on another person: it and the frame after it (not judged) stand apart
    assert stretches(blip) == [slice(0, 5), slice(5, 7), slice(7, 12)]


def test_nothing_is_smoothed_across_a_jump():
    # a straight walker, then another person 30 px away from frame 10: each side smoothed alone keeps its line
    t = walker(1, range(21), 100, 4)
    t.keypoints[10:, :, 0] += 30
    assert np.allclose(smooth_track(t, FPS, 2.5).keypoints, t.keypoints)


def test_gaps_are_filled_between_the_smoothed_entries():
    # a walker whose confident nose shakes +-2 px frame to frame, missing frames 10-11: the filled noses lie on the
    # line between the smoothed noses of frames 9 and 12, not on the raw ones
    t = walker(1, [k for k in range(22) if k not in (10, 11)], 100, 4)
    t.keypoints[:, 0, 0] += 2.0 * (-1) ** np.arange(len(t))
    refined = refine_tracks(results_of([t], 22), FPS, RefineConfig(fill_gap=5, max_gap_s=0), COCO17)
    nose = [r.tracks.poses.keypoints[0, 0, 0] for r in refined.results]
    assert [bool(f[0]) for f in refined.interpolated] == [k in (10, 11) for k in range(22)]
    assert nose[10] == pytest.approx(nose[9] + (nose[12] - nose[9]) / 3)
    assert nose[11] == pytest.approx(nose[9] + 2 * (nose[12] - nose[9]) / 3)
    raw9, raw12 = t.keypoints[9, 0, 0], t.keypoints[10, 0, 0]  # rows 9 and 10 hold frames 9 and 12
    assert abs(nose[9] - raw9) > 0.1 and abs(nose[12] - raw12) > 0.1  # the ends were smoothed


def test_leaned_scores_in_blocks_equal_the_whole_formula():
    # 700 entries (more than one block of 256), some frames missing: the dense Gaussian formula written out
    rng = np.random.default_rng(3)
    times = np.sort(rng.choice(900, 700, replace=False)) / 25.0
    scores, sigma = rng.random((700, 4)), sigma_for_cutoff(1.5)
    d = times[:, None] - times[None, :]
    g = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= 3 * sigma)
    np.fill_diagonal(g, 0.0)
    total = g.sum(1, keepdims=True)
    mean = np.where(total > 0, g @ scores / np.where(total > 0, total, 1), scores)
    expected = np.where(scores < 0.3, np.maximum(scores, mean), scores)
    assert np.allclose(leaned_scores(times, scores, sigma), expected, atol=1e-12)

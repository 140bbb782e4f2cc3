import numpy as np

from posetrack_cli.export.prune import count_track_lengths, short_tracks
from posetrack_cli.track.assignment import greedy, hungarian


def test_hungarian_beats_greedy_on_the_classic_table():
    sim = np.array([[0.9, 0.8],
                    [0.8, 0.1]])
    # greedy takes (0,0)=0.9 then is left with (1,1)=0.1 -> total 1.0; Hungarian takes (0,1)+(1,0) = 1.6
    assert greedy(sim, 0.0) == [(0, 0), (1, 1)]
    assert hungarian(sim, 0.0) == [(0, 1), (1, 0)]


def test_minimum_similarity_is_never_forced():
    sim = np.array([[0.9, 0.8],
                    [0.8, 0.1]])
    assert greedy(sim, 0.5) == [(0, 0)]
    assert hungarian(sim, 0.5) == [(0, 1), (1, 0)]
    assert hungarian(np.array([[0.1, 0.05]]), 0.2) == []


def test_rectangular_and_empty():
    sim = np.array([[0.1, 0.7, 0.3]])
    assert hungarian(sim, 0.2) == [(0, 1)]
    assert greedy(sim.T, 0.2) == [(1, 0)]
    assert hungarian(np.zeros((0, 3)), 0.2) == []
    assert greedy(np.zeros((2, 0)), 0.2) == []


def test_prune_short_tracklets():
    lengths = count_track_lengths([[1, 2], [1], [1, 3], [3]])
    assert lengths == {1: 3, 2: 1, 3: 2}
    assert short_tracks(lengths, 2) == {2}
    assert short_tracks(lengths, 3) == {2, 3}
    assert short_tracks(lengths, 1) == set()

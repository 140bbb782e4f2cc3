"""One-Euro keypoint smoothing with parameters chosen so that every factor is a round number.

alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff). With cutoff = 1 / (2 pi) Hz, tau = 1 s; at dt = 1 s alpha = 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from posetrack_cli.track.smoothing import KeypointSmoother, smoothing_factor

ONE_SECOND_TAU = 1 / (2 * math.pi)  # cutoff (Hz) whose time constant is 1 s


def _kp(x: float) -> np.ndarray:
    return np.array([[[x, 2 * x, 0.7]]])


def test_smoothing_factor():
    assert smoothing_factor(ONE_SECOND_TAU, 1.0) == pytest.approx(0.5)
    assert smoothing_factor(4 * ONE_SECOND_TAU, 1.0) == pytest.approx(0.8)  # tau 1/4 s


def test_beta_zero_is_an_exponential_filter():
    s = KeypointSmoother(min_cutoff=ONE_SECOND_TAU, beta=0.0, d_cutoff=ONE_SECOND_TAU, fps=1.0)
    assert s.update([5], _kp(0.0), 0.0)[0, 0].tolist() == [0.0, 0.0, 0.7]  # first sight passes through
    # alpha 0.5: x 0 -> 10 gives 5, then 7.5; y follows with 2x; the score is untouched.
    assert s.update([5], _kp(10.0), 1.0)[0, 0].tolist() == pytest.approx([5.0, 10.0, 0.7])
    assert s.update([5], _kp(10.0), 2.0)[0, 0].tolist() == pytest.approx([7.5, 15.0, 0.7])


def test_speed_raises_the_cutoff():
    # d_cutoff tau 1 s -> a_d = 0.5: speed = 0.5 x (10 - 0) / 1 = 5 px/s on x.
    # beta = 0.6 / (2 pi): cutoff = (1 + 0.6 x 5) / (2 pi) = 4 / (2 pi) -> alpha 0.8 -> x = 8.
    s = KeypointSmoother(min_cutoff=ONE_SECOND_TAU, beta=0.6 / (2 * math.pi), d_cutoff=ONE_SECOND_TAU, fps=1.0)
    s.update([1], _kp(0.0), 0.0)
    assert s.update([1], _kp(10.0), 1.0)[0, 0, 0] == pytest.approx(8.0)


def test_tracks_are_independent_and_forgotten():
    s = KeypointSmoother(min_cutoff=ONE_SECOND_TAU, beta=0.0, fps=1.0, forget_after_s=2.5)
    s.update([1, 2], np.concatenate([_kp(0.0), _kp(100.0)]), 0.0)
    out = s.update([2, 1], np.concatenate([_kp(110.0), _kp(10.0)]), 1.0)
    assert out[:, 0, 0].tolist() == pytest.approx([105.0, 5.0])
    s.update([1], _kp(10.0), 2.0)
    assert len(s) == 2
    s.update([1], _kp(10.0), 4.0)  # track 2 last seen at t = 1: 3 s > 2.5 s -> dropped
    assert len(s) == 1


def test_time_that_does_not_advance_uses_fps():
    # same time stamp twice: dt = 1 / fps = 1 s -> alpha 0.5 -> 0 then 10 gives 5.
    s = KeypointSmoother(min_cutoff=ONE_SECOND_TAU, beta=0.0, fps=1.0)
    s.update([1], _kp(0.0), 3.0)
    assert s.update([1], _kp(10.0), 3.0)[0, 0, 0] == pytest.approx(5.0)


def test_bad_parameters():
    with pytest.raises(ValueError):
        KeypointSmoother(min_cutoff=0.0)

"""Zero-phase, confidence-weighted smoothing of a track's keypoints: a local-linear Gaussian kernel fit.

Every coordinate at time t is the value at t of the line fitted, by weighted least squares, to the track's entries
around t, each weighted by its keypoint score times a Gaussian of its distance in time. The window is symmetric, so
nothing lags (zero phase); a low-confidence joint gets its position from its confident neighbours in time; the line
(rather than a weighted mean) follows steady motion and track ends without bias. The Gaussian's width comes from a
cutoff in Hz (its response falls to 1/sqrt(2) there), so the smoothing is the same at any frame rate.
"""

from __future__ import annotations

import math

import numpy as np

from posetrack_cli.track.refine.tracklets import Tracklet

MIN_WEIGHT = 1e-3  # keypoint scores are floored at this, so a joint seen only with score 0 is still placed
BLOCK = 256  # rows fitted at once (memory O(BLOCK x window))


def sigma_for_cutoff(cutoff_hz: float) -> float:
    """Seconds: a Gaussian of this width has gain exp(-2 pi^2 sigma^2 f^2) = 1/sqrt(2) at ``cutoff_hz``."""
    return math.sqrt(math.log(2.0)) / (2.0 * math.pi * cutoff_hz)


def local_linear(times: np.ndarray, values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """values (T, ...) fitted at every time by a weighted line over the entries within 3 sigma; weights (T, ...)."""
    out = values.copy()
    reach = 3.0 * sigma
    for start in range(0, len(times), BLOCK):
        rows = np.arange(start, min(start + BLOCK, len(times)))
        lo, hi = np.searchsorted(times, times[rows[0]] - reach), np.searchsorted(times, times[rows[-1]] + reach,
                                                                               "right")
        d = times[None, lo:hi] - times[rows, None]  # (R, C) seconds from each fitted row
        g = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= reach)
        w, x = weights[lo:hi], values[lo:hi]
        s0, s1, s2 = (np.tensordot(g * d ** p, w, 1) for p in range(3))
        t0, t1 = np.tensordot(g, w * x, 1), np.tensordot(g * d, w * x, 1)
        det = s0 * s2 - s1 * s1
        line = np.abs(det) > 1e-12 * np.maximum(s0 * s2, 1e-300)
        mean = s0 > 0
        fit = np.where(line, (s2 * t0 - s1 * t1) / np.where(line, det, 1), np.where(mean, t0 / np.where(mean, s0, 1),
                                                                                 values[rows]))
        out[rows] = fit
    return out


def smooth_track(t: Tracklet, fps: float, cutoff_hz: float) -> Tracklet:
    """``t`` with its keypoint x, y smoothed (scores, boxes and frames unchanged); ``cutoff_hz`` <= 0: unchanged."""
    if cutoff_hz <= 0 or len(t) < 3:
        return t
    times = t.frames / fps
    w = np.maximum(t.keypoints[:, :, 2], MIN_WEIGHT)[:, :, None].repeat(2, axis=2)
    kp = t.keypoints.copy()
    kp[:, :, :2] = local_linear(times, t.keypoints[:, :, :2], w, sigma_for_cutoff(cutoff_hz))
    return Tracklet(t.track_id, t.frames, t.boxes_xyxy, t.box_scores, kp, t.scores, t.interpolated)

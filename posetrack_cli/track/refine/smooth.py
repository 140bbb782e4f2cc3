"""Zero-phase, confidence-weighted smoothing of a track's keypoints: a local-linear Gaussian kernel fit.

Every coordinate at time t is the value at t of the line fitted, by weighted least squares, to the track's entries
around t, each weighted by its keypoint score times a Gaussian of its distance in time. The window is symmetric, so
nothing lags (zero phase); a low-confidence joint gets its position from its confident neighbours in time; the line
(rather than a weighted mean) follows steady motion and track ends without bias. The Gaussian's width comes from a
cutoff in Hz (its response falls to 1/sqrt(2) there), so the smoothing is the same at any frame rate. The fit is
done twice, the second time without the entries far off the first (LOWESS's bisquare reweighting, Cleveland 1979):
a joint on the wrong person for a frame, or an id that jumped between two people, does not drag its neighbours.
"""

from __future__ import annotations

import math

import numpy as np

from posetrack_cli.track.refine.tracklets import Tracklet

MIN_WEIGHT = 1e-3  # keypoint scores are floored at this, so a joint seen only with score 0 is still placed
BLOCK = 256  # rows fitted at once (memory O(BLOCK x window))
ROBUST_SCALE = 6.0  # residuals beyond this many median residuals get weight 0 in the second fit (LOWESS's 6)
MIN_RESIDUAL_PX = 0.5  # floor of the median residual, so exact data keeps its weights
MAX_SHIFT = 0.04  # box heights a confident joint may be moved at most: jitter is smaller, a sharp turn larger
CONFIDENT = 0.3  # joints scored at least this are confident; the others take the fit wherever it lies


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


def limit_shift(shift: np.ndarray, heights: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``shift`` (T, K, 2) with the moves of confident joints cut to ``MAX_SHIFT`` x their box height (T,)."""
    limit = np.where(scores >= CONFIDENT, MAX_SHIFT * heights[:, None], np.inf)  # (T, K)
    norm = np.linalg.norm(shift, axis=2)
    return shift * np.minimum(1.0, limit / np.maximum(norm, 1e-12))[:, :, None]


def smooth_track(t: Tracklet, fps: float, cutoff_hz: float) -> Tracklet:
    """``t`` with its keypoint x, y smoothed (scores, boxes and frames unchanged); ``cutoff_hz`` <= 0: unchanged."""
    if cutoff_hz <= 0 or len(t) < 3:
        return t
    times, xy, sigma = t.frames / fps, t.keypoints[:, :, :2], sigma_for_cutoff(cutoff_hz)
    w = np.maximum(t.keypoints[:, :, 2], MIN_WEIGHT)
    first = local_linear(times, xy, w[:, :, None].repeat(2, axis=2), sigma)
    off = np.linalg.norm(xy - first, axis=2)  # (T, K) px
    robust = np.clip(1.0 - (off / (ROBUST_SCALE * max(float(np.median(off)), MIN_RESIDUAL_PX))) ** 2, 0.0, None) ** 2
    fit = local_linear(times, xy, (w * robust)[:, :, None].repeat(2, axis=2), sigma)
    kp = t.keypoints.copy()
    kp[:, :, :2] = xy + limit_shift(fit - xy, t.heights, t.keypoints[:, :, 2])
    return Tracklet(t.track_id, t.frames, t.boxes_xyxy, t.box_scores, kp, t.scores, t.interpolated, t.rows)

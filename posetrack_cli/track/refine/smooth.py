"""Zero-phase, confidence-weighted smoothing of a track's keypoints: a local-linear Gaussian kernel fit.

Every coordinate at time t is the value at t of the line fitted, by weighted least squares, to the track's entries
around t, each weighted by its keypoint score times a Gaussian of its distance in time. The window is symmetric, so
nothing lags (zero phase); a low-confidence joint gets its position from its confident neighbours in time; the line
(rather than a weighted mean) follows steady motion and track ends without bias. The Gaussian's width comes from a
cutoff in Hz (its response falls to 1/sqrt(2) there), so the smoothing is the same at any frame rate. The fit is
done twice, the second time without the entries far off the first (LOWESS's bisquare reweighting, Cleveland 1979):
a joint on the wrong person for a frame, or an id that jumped between two people, does not drag its neighbours.
Where a whole pose jumps (``MAX_JUMP``: a track that took another person's pose, or a sharp turn), the stretches on
either side are smoothed apart (``stretches``), so neither pulls the other.

A joint scored under ``CONFIDENT`` is placed by its neighbours in time, so with ``lean_scores`` its score becomes
theirs too (``leaned_scores``: the same Gaussian's mean of the other entries' scores, when higher than its own). A
joint lost for a frame (motion blur, a one-frame slip onto a neighbour) then counts as the seen joint it now is; a joint
hidden for long keeps a low score, since its neighbours' scores are low as well.
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
MAX_JUMP = 0.15  # box heights: an entry whose confident joints' centre lies this far from where the track's previous
# step led is the start of a new stretch, smoothed apart (a sharp turn, or a track that took another person's pose)


def sigma_for_cutoff(cutoff_hz: float) -> float:
    """Seconds: a Gaussian of this width has gain exp(-2 pi^2 sigma^2 f^2) = 1/sqrt(2) at ``cutoff_hz``."""
    return math.sqrt(math.log(2.0)) / (2.0 * math.pi * cutoff_hz)


def gaussian_windows(times: np.ndarray, sigma: float):
    """Blocks of at most ``BLOCK`` rows: (rows, lo, hi, d, g), where the entries ``lo:hi`` lie within 3 sigma of some
    row, ``d`` (R, C) is their time minus each row's and ``g`` their Gaussian weight (0 beyond 3 sigma). Memory
    O(BLOCK x window) whatever the track's length."""
    reach = 3.0 * sigma
    for start in range(0, len(times), BLOCK):
        rows = np.arange(start, min(start + BLOCK, len(times)))
        lo = np.searchsorted(times, times[rows[0]] - reach)
        hi = np.searchsorted(times, times[rows[-1]] + reach, "right")
        d = times[None, lo:hi] - times[rows, None]
        yield rows, lo, hi, d, np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= reach)


def local_linear(times: np.ndarray, values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """values (T, ...) fitted at every time by a weighted line over the entries within 3 sigma; weights (T, ...)."""
    out = values.copy()
    for rows, lo, hi, d, g in gaussian_windows(times, sigma):
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


def stretches(t: Tracklet) -> list[slice]:
    """Runs of entries smoothed apart: a run ends before an entry whose centre (mean of its confident joints; the box
    centre without any) is off by ``MAX_JUMP`` box heights from the straight continuation of the run's latest step.
    The entry after a break is not judged (the new run has no step yet): a pose on another person for one frame
    ends up in a short run of its own, and a sharp turn starts a new run."""
    centre, heights, frames = t.keypoint_centres(CONFIDENT), t.heights, t.frames
    starts, step = [0], None  # step: px per frame of the latest step inside the current run
    for i in range(1, len(t)):
        dt = float(frames[i] - frames[i - 1])
        if step is not None and np.linalg.norm(centre[i] - centre[i - 1] - step * dt) > MAX_JUMP * heights[i]:
            starts.append(i)
            step = None
            continue
        step = (centre[i] - centre[i - 1]) / dt
    starts.append(len(t))
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]


def smooth_track(t: Tracklet, fps: float, cutoff_hz: float, lean_scores: bool = False) -> Tracklet:
    """``t`` with its keypoint x, y smoothed (boxes and frames unchanged) stretch by stretch (``stretches``), and with
    ``lean_scores`` the scores of its low-score joints leaned on their neighbours' (``leaned_scores``);
    ``cutoff_hz`` <= 0: unchanged."""
    if cutoff_hz <= 0 or len(t) < 3:
        return t
    kp, sigma = t.keypoints.copy(), sigma_for_cutoff(cutoff_hz)
    for part in stretches(t):
        kp[part, :, :2] = _smoothed_xy(t.take(part), fps, cutoff_hz)
        if lean_scores:
            kp[part, :, 2] = leaned_scores(t.frames[part] / fps, t.keypoints[part, :, 2], sigma)
    return Tracklet(t.track_id, t.frames, t.boxes_xyxy, t.box_scores, kp, t.scores, t.interpolated, t.rows)


def leaned_scores(times: np.ndarray, scores: np.ndarray, sigma: float) -> np.ndarray:
    """scores (T, K) of one stretch at ``times`` (T,) s: each joint under ``CONFIDENT`` takes the Gaussian-weighted
    (width ``sigma``, within 3 sigma) mean score of the same joint in the stretch's other entries when that is
    higher; the others keep theirs. An entry without neighbours within 3 sigma is unchanged."""
    others = scores.copy()
    for rows, lo, hi, _, g in gaussian_windows(times, sigma):
        g[np.arange(len(rows)), rows - lo] = 0.0  # the entry itself is not its neighbour
        total = g.sum(1, keepdims=True)
        others[rows] = np.where(total > 0, (g @ scores[lo:hi]) / np.maximum(total, 1e-300), scores[rows])
    return np.where(scores < CONFIDENT, np.maximum(scores, others), scores)


def _smoothed_xy(t: Tracklet, fps: float, cutoff_hz: float) -> np.ndarray:
    """(T, K, 2) smoothed keypoint x, y of one stretch (as given when it has fewer than 3 entries)."""
    xy = t.keypoints[:, :, :2]
    if len(t) < 3:
        return xy
    times, sigma = t.frames / fps, sigma_for_cutoff(cutoff_hz)
    w = np.maximum(t.keypoints[:, :, 2], MIN_WEIGHT)
    first = local_linear(times, xy, w[:, :, None].repeat(2, axis=2), sigma)
    off = np.linalg.norm(xy - first, axis=2)  # (T, K) px
    robust = np.clip(1.0 - (off / (ROBUST_SCALE * max(float(np.median(off)), MIN_RESIDUAL_PX))) ** 2, 0.0, None) ** 2
    fit = local_linear(times, xy, (w * robust)[:, :, None].repeat(2, axis=2), sigma)
    return xy + limit_shift(fit - xy, t.heights, t.keypoints[:, :, 2])

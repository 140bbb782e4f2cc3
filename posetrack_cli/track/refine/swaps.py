"""Swap repair: where two tracks pass close to each other, the online tracker sometimes gives each the other's
person (OKS cannot tell two overlapping people apart; the synthetic benchmark's id switches are mostly these, at
0.02-0.15 box heights apart). People move smoothly, so the assignment of the two tracks' entries to the two people
that gives the smallest total acceleration is the right one.

For every pair of tracks that come within ``CLOSE`` box heights of each other, the frames where both are present,
from ``CONTEXT`` frames before the first close frame to ``CONTEXT`` frames after the last, are labelled "kept" or
"swapped" by dynamic programming (the Viterbi path over the two labels, the cost being the squared second difference
of both tracks' keypoint centres in px/frame^2). A label changes the entries of both tracks at that frame, and the
label of the last frame holds for the rest of both tracks. The repair is taken only when it lowers the summed
acceleration by ``MIN_GAIN`` of the unrepaired one (noise alone gives a few per cent either way).
"""

from __future__ import annotations

import numpy as np

from posetrack_cli.track.refine.tracklets import ENTRY_FIELDS, Tracklet

CLOSE = 0.3  # box heights between the keypoint centres of two tracks for them to be checked
CONTEXT = 4  # frames both tracks are present, around the close ones, whose motion decides
MIN_GAIN = 0.4  # share of the summed squared acceleration a repair must remove (larger: fewer, surer repairs)
MIN_SCORE = 0.3  # joints scored lower do not count in a keypoint centre


def _acceleration(p: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Squared second difference (px/frame^2) at each interior point of ``p`` (T, 2) sampled at ``frames`` (T,)."""
    v = np.diff(p, axis=0) / np.diff(frames)[:, None]
    return (np.diff(v, axis=0) ** 2).sum(1)


def best_labels(a: np.ndarray, b: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Labels (T,) bool (True: swap the two tracks' points there) minimising the summed squared acceleration of the
    two point sequences ``a``, ``b`` (T, 2) at ``frames``, the first two labels fixed to kept; with that cost and the
    cost of all kept."""
    n = len(frames)
    pts = np.stack([np.stack([a, b], 1), np.stack([b, a], 1)])  # (label, T, track, 2)
    inf = np.inf
    # cost[k][l1][l2]: least cost of labels up to k with label l1 at k-1 and l2 at k
    cost = np.full((n, 2, 2), inf)
    cost[1, 0, 0] = 0.0
    back = np.zeros((n, 2, 2), np.int64)
    dt = np.diff(frames).astype(np.float64)
    for k in range(2, n):
        for l0 in (0, 1):
            for l1 in (0, 1):
                for l2 in (0, 1):
                    prev = cost[k - 1, l0, l1]
                    if prev == inf:
                        continue
                    v1 = (pts[l1, k - 1] - pts[l0, k - 2]) / dt[k - 2]
                    v2 = (pts[l2, k] - pts[l1, k - 1]) / dt[k - 1]
                    c = prev + float(((v2 - v1) ** 2).sum())
                    if c < cost[k, l1, l2]:
                        cost[k, l1, l2], back[k, l1, l2] = c, l0
    l1, l2 = np.unravel_index(np.argmin(cost[n - 1]), (2, 2))
    labels = np.zeros(n, np.int64)
    labels[n - 1], labels[n - 2] = l2, l1
    for k in range(n - 1, 1, -1):
        labels[k - 2] = back[k, labels[k - 1], labels[k]]
    kept = float(_acceleration(a, frames).sum() + _acceleration(b, frames).sum())
    return labels.astype(bool), float(cost[n - 1].min()), kept


def _swap_entries(a: Tracklet, b: Tracklet, rows_a: np.ndarray, rows_b: np.ndarray) -> None:
    """Exchange the entries ``rows_a`` of ``a`` with ``rows_b`` of ``b`` (same frames), in place."""
    for f in ENTRY_FIELDS[1:]:  # all but the frame
        xa, xb = getattr(a, f), getattr(b, f)
        xa[rows_a], xb[rows_b] = xb[rows_b].copy(), xa[rows_a].copy()


def _swap_tails(a: Tracklet, b: Tracklet, after: int) -> tuple[Tracklet, Tracklet]:
    """The two tracklets with their entries at frames > ``after`` exchanged (each keeps its id)."""
    ka, kb = a.frames > after, b.frames > after
    return (Tracklet.concat(a.track_id, [a.take(~ka), b.take(kb)]),
            Tracklet.concat(b.track_id, [b.take(~kb), a.take(ka)]))


def repair_pair(a: Tracklet, b: Tracklet) -> tuple[Tracklet, Tracklet, bool]:
    """``a`` and ``b`` with the entries the two people were swapped at given back; and whether any were."""
    common, ia, ib = np.intersect1d(a.frames, b.frames, return_indices=True)
    if len(common) < 3:
        return a, b, False
    ca, cb = a.keypoint_centres(MIN_SCORE)[ia], b.keypoint_centres(MIN_SCORE)[ib]
    heights = (a.heights[ia] + b.heights[ib]) / 2
    close = np.flatnonzero(np.linalg.norm(ca - cb, axis=1) < CLOSE * heights)
    if len(close) == 0:
        return a, b, False
    lo, hi = max(close[0] - CONTEXT, 0), min(close[-1] + CONTEXT, len(common) - 1)
    if hi - lo < 2:
        return a, b, False
    window = slice(lo, hi + 1)
    labels, cost, kept = best_labels(ca[window], cb[window], common[window])
    if not labels.any() or cost > (1.0 - MIN_GAIN) * kept:
        return a, b, False
    a, b = a.take(np.arange(len(a))), b.take(np.arange(len(b)))  # copies: the inputs stay as they were
    rows = np.flatnonzero(labels)
    _swap_entries(a, b, ia[window][rows], ib[window][rows])
    if labels[-1]:
        a, b = _swap_tails(a, b, int(common[hi]))
    return a, b, True


def repair_swaps(tracklets: list[Tracklet]) -> tuple[list[Tracklet], int]:
    """Tracklets with the swaps between pairs of them repaired (``repair_pair`` on every pair that overlaps in
    time, in order of their ids); and how many pairs were repaired."""
    out = list(tracklets)
    repaired = 0
    spans = [(t.frames[0], t.frames[-1]) for t in out]
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            if spans[i][1] < spans[j][0] or spans[j][1] < spans[i][0]:
                continue
            a, b, swapped = repair_pair(out[i], out[j])
            if swapped:
                out[i], out[j] = a, b
                spans[i], spans[j] = (a.frames[0], a.frames[-1]), (b.frames[0], b.frames[-1])
                repaired += 1
    return out, repaired

"""Stitching: a tracklet that ends is joined with one that starts up to ``max_gap_s`` later when their motion,
scale, pose shape and appearance agree; all candidate joins are solved at once (Hungarian, ``lap``).

Each tracklet has one end and one start, so a one-to-one assignment of ends to starts gives chains (A -> B -> C);
a start is only a candidate for an end strictly before it, so joined tracklets never overlap in time.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np

from posetrack_cli.track.refine.tracklets import Tracklet

VELOCITY_WINDOW_S = 1.0  # seconds at a tracklet's end (start) whose box centres give its velocity
MOTION_TOLERANCE = 0.5  # box heights a prediction may miss by at once; raising it joins people further apart
MOTION_TOLERANCE_PER_S = 0.5  # box heights added per second of gap (motion grows less certain)
MAX_SCALE_RATIO = 1.5  # box heights of the two ends may differ by this factor at most
MIN_SHAPE_SCORE = 0.3  # joints under this score do not count in the pose-shape distance
SHAPE_SCALE = 0.25  # normalised pose-shape distance (in box heights) that costs as much as a full motion tolerance
MAX_APPEARANCE = 0.75  # Hellinger distance of colour histograms above which two tracklets are never joined (the same
# pedestrian of the bundled clip before and after a gap: 0.2-0.6, small boxes mixing in background)
APPEARANCE_WEIGHT = 1.0  # cost of a Hellinger distance of 1 (a motion miss of one tolerance costs 1)
MAX_SPEED = 1.5  # box heights per second; faster measured velocities (a tracklet's first frames) are scaled down
MAX_APPEARANCE_SHORT = 0.5  # a tracklet of one frame has no motion of its own: it is joined only when both colour
# histograms are known and at most this far apart (without appearance, as in the synthetic benchmark, never)


@dataclass(frozen=True)
class StitchConfig:
    fps: float
    max_gap_s: float  # longest gap (missing frames / fps between one tracklet's end and the next's start) joined
    max_cost: float  # joins costing more are refused; raising it joins more (and more wrongly)


def velocity(times_s: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Least-squares velocity (2,) in px/s of ``centres`` (T, 2) over ``times_s`` (T,); 0 for one point."""
    if len(times_s) < 2:
        return np.zeros(2)
    t = times_s - times_s.mean()
    return (t[:, None] * (centres - centres.mean(0))).sum(0) / max(float((t * t).sum()), 1e-9)


def _end_state(t: Tracklet, fps: float, at_end: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, velocity px/s, height) of a tracklet's last (``at_end``) or first second."""
    times = t.frames / fps
    keep = times >= times[-1] - VELOCITY_WINDOW_S if at_end else times <= times[0] + VELOCITY_WINDOW_S
    row = -1 if at_end else 0
    v, h = velocity(times[keep], t.centres[keep]), float(t.heights[row])
    speed = float(np.linalg.norm(v))
    return t.centres[row], v * min(1.0, MAX_SPEED * h / max(speed, 1e-9)), h


def shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of the joints confident in both poses (K, 3), each centred on its mean and divided by its
    height: how differently two people stand, whatever their place and size (0 when nothing compares)."""
    both = (a[:, 2] >= MIN_SHAPE_SCORE) & (b[:, 2] >= MIN_SHAPE_SCORE)
    if both.sum() < 3:
        return 0.0

    def norm(p):
        xy = p[both, :2]
        return (xy - xy.mean(0)) / max(float(np.ptp(xy[:, 1])), 1.0)

    return float(np.linalg.norm(norm(a) - norm(b), axis=1).mean())


def hellinger(p: np.ndarray | None, q: np.ndarray | None) -> float:
    """Hellinger distance of two normalised histograms (0 same, 1 disjoint); 0 when either is unknown."""
    if p is None or q is None:
        return 0.0
    return float(np.sqrt(max(0.0, 1.0 - np.sqrt(p * q).sum())))


def join_cost(a: Tracklet, b: Tracklet, cfg: StitchConfig, appearance: dict) -> float:
    """Cost of continuing ``a`` with ``b`` (``b`` starts after ``a`` ends), ``inf`` when a gate refuses it."""
    gap_s = (b.frames[0] - a.frames[-1]) / cfg.fps  # from a's last entry to b's first
    if gap_s <= 0 or gap_s - 1 / cfg.fps > cfg.max_gap_s + 1e-9:  # the time nobody was seen: missing frames / fps
        return np.inf
    ca, va, ha = _end_state(a, cfg.fps, at_end=True)
    cb, vb, hb = _end_state(b, cfg.fps, at_end=False)
    if max(ha, hb) / min(ha, hb) > MAX_SCALE_RATIO:
        return np.inf
    # both ends extrapolated to the middle of the gap, the miss measured in box heights
    miss = np.linalg.norm((ca + va * gap_s / 2) - (cb - vb * gap_s / 2)) / ((ha + hb) / 2)
    motion = miss / (MOTION_TOLERANCE + MOTION_TOLERANCE_PER_S * gap_s)
    look = hellinger(appearance.get(a.track_id), appearance.get(b.track_id))
    if motion > 1.0 or look > MAX_APPEARANCE:
        return np.inf
    if min(len(a), len(b)) < 2 and (a.track_id not in appearance or b.track_id not in appearance
                                    or look > MAX_APPEARANCE_SHORT):
        return np.inf
    scale = abs(np.log(ha / hb)) / np.log(MAX_SCALE_RATIO)
    shape = shape_distance(a.keypoints[-1], b.keypoints[0]) / SHAPE_SCALE
    return motion + 0.5 * scale + 0.5 * min(shape, 1.0) + APPEARANCE_WEIGHT * look


def cost_matrix(tracklets: list[Tracklet], cfg: StitchConfig, appearance: dict) -> np.ndarray:
    """(N, N) cost of continuing tracklet i (its end) with tracklet j (its start); ``inf`` where not allowed."""
    n = len(tracklets)
    cost = np.full((n, n), np.inf)
    starts = np.array([t.frames[0] for t in tracklets])
    for i, a in enumerate(tracklets):
        for j in np.flatnonzero((starts > a.frames[-1]) & (starts <= a.frames[-1] + cfg.max_gap_s * cfg.fps + 1)):
            cost[i, j] = join_cost(a, tracklets[j], cfg, appearance)
    return cost


def solve_joins(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """The one-to-one set of (end i, start j) joins of least total cost, each at most ``max_cost``."""
    if cost.size == 0 or not np.isfinite(cost).any():
        return []
    _, x, _ = lap.lapjv(np.where(np.isfinite(cost), cost, 1e6), extend_cost=True, cost_limit=max_cost)
    return [(i, int(j)) for i, j in enumerate(x) if j >= 0 and cost[i, j] <= max_cost]


def stitch(tracklets: list[Tracklet], cfg: StitchConfig,
           appearance: dict | None = None) -> tuple[list[Tracklet], dict[int, int]]:
    """Tracklets joined into tracks, each under the id of its first tracklet, and the id each input tracklet now
    has (``{id: id of its track}``)."""
    joins = solve_joins(cost_matrix(tracklets, cfg, appearance or {}), cfg.max_cost)
    nxt = dict(joins)
    has_prev = {j for _, j in joins}
    out, ids = [], {}
    for i in range(len(tracklets)):
        if i in has_prev:
            continue
        chain = [i]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        parts = [tracklets[k] for k in chain]
        out.append(parts[0] if len(parts) == 1 else Tracklet.concat(parts[0].track_id, parts))
        ids.update({p.track_id: parts[0].track_id for p in parts})
    return out, ids

"""Offline refinement of a finished run's tracks: swap repair, stitching across gaps, gap filling, smoothing
(``refine_tracks``).

Runs after the online tracker on the whole set of tracklets. Order: people two passing tracks exchanged are given
back (``swaps``), then joins (``stitch``; a tracklet shorter than the MDPN minimum length joins only on agreeing
appearance, and tracks whose every tracklet is that short are dropped, as the outputs would prune them), then the
joined tracks' keypoints are smoothed (``smooth``; low-score joints, placed by their neighbours in time, take their
neighbours' scores), then gaps inside them are filled (``fill``) between the smoothed
entries (a filled entry is a straight line between two seen ones; smoothed afterwards, a track end's fit would carry
it off: on the synthetic benchmark 61 of 75 joints that smoothing moved out of poseval's radius were filled ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from posetrack_cli.config import RefineConfig
from posetrack_cli.records import FrameResult, Skeleton
from posetrack_cli.track.refine.fill import fill_gaps
from posetrack_cli.track.refine.smooth import smooth_track
from posetrack_cli.track.refine.stitch import StitchConfig, stitch
from posetrack_cli.track.refine.swaps import repair_swaps
from posetrack_cli.track.refine.tracklets import results_from_tracklets, tracklets_from_results


@dataclass
class Refined:
    results: list[FrameResult]
    interpolated: list[np.ndarray]  # per frame, (N,) bool: entries made by gap filling
    stats: dict  # tracklets, swaps (pairs repaired), dropped (short), joins, tracks, filled (entries)
    id_map: dict[int, int]  # online track id -> refined track id (dropped short tracklets absent)


def refine_tracks(results: list[FrameResult], fps: float, config: RefineConfig, skeleton: Skeleton,
                  min_track_length: int = 1, appearance: dict | None = None) -> Refined:
    """The refined frames of a finished run (same frames, ids of joined tracklets unified, gaps filled, keypoints
    smoothed). ``appearance``: track id -> histogram (``AppearanceBank.histograms``) or None (motion and pose only)."""
    tracklets, swaps = tracklets_from_results(results), 0
    if config.repair_swaps:
        tracklets, swaps = repair_swaps(tracklets)
    joined, id_map = stitch(tracklets, StitchConfig(fps, config.max_gap_s, config.max_join_cost), appearance)
    longest: dict[int, int] = {}  # refined id -> its longest online tracklet
    for t in tracklets:
        longest[id_map[t.track_id]] = max(longest.get(id_map[t.track_id], 0), len(t))
    joined = [t for t in joined if longest[t.track_id] >= min_track_length]
    id_map = {tid: head for tid, head in id_map.items() if longest[head] >= min_track_length}
    kept = [t for t in tracklets if t.track_id in id_map]
    frames = np.array(sorted(r.frame_index for r in results), np.int64)
    filled, added = [], 0
    for t in joined:
        smoothed = smooth_track(t, fps, config.smooth_cutoff_hz, config.lean_scores)
        t, n = fill_gaps(smoothed, frames, config.fill_gap, config.interpolated_score)
        filled.append(t)
        added += n
    out, flags = results_from_tracklets(results, filled, skeleton)
    stats = {"tracklets": len(tracklets), "swaps": swaps, "dropped": len(tracklets) - len(kept),
             "joins": len(kept) - len(joined), "tracks": len(filled), "filled": added}
    return Refined(out, flags, stats, id_map)


def settings(config: RefineConfig) -> dict:
    """The refinement settings as the outputs record them."""
    return asdict(config)

"""Tracklet pruning (MDPN section 2.3), applied when the final outputs are written: tracks seen in fewer than
``min_length`` frames are dropped."""

from __future__ import annotations

from collections import Counter
from typing import Iterable


def count_track_lengths(track_ids_per_frame: Iterable[Iterable[int]]) -> Counter:
    """Number of frames each track id appears in."""
    lengths: Counter = Counter()
    for ids in track_ids_per_frame:
        lengths.update(int(i) for i in ids)
    return lengths


def short_tracks(lengths: Counter, min_length: int) -> set[int]:
    """Ids of the tracklets to prune: seen in fewer than ``min_length`` frames (``min_length <= 1`` prunes none)."""
    return {tid for tid, n in lengths.items() if n < min_length}

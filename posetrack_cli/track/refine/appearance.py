"""Cheap appearance gathered during the run: per track id, the mean hue-saturation histogram of the torso and of the
legs (upper and lower part of the box), for stitching to tell two people apart after a gap.

The sums are kept per online id: memory grows with the number of tracks (256 bytes each), not with frames.
"""

from __future__ import annotations

import cv2
import numpy as np

HUE_BINS, SAT_BINS = 8, 4  # 32 bins per region; more bins separate similar clothes but need more pixels
TORSO_ROWS = (0.2, 0.5)  # share of the box height: shoulders to hips
LEGS_ROWS = (0.5, 0.9)  # hips to ankles
MIDDLE_COLUMNS = (0.25, 0.75)  # share of the box width (the background at the sides left out)
MIN_BOX_SCORE = 0.5  # weaker boxes (partial people, overlaps) do not add to a track's histogram


def region_histogram(hsv: np.ndarray, box: np.ndarray, rows: tuple[float, float]) -> np.ndarray | None:
    """Normalised (HUE_BINS * SAT_BINS,) histogram of a horizontal band of ``box`` in an HSV frame, None if empty."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    c0, c1 = int(max(x1 + MIDDLE_COLUMNS[0] * w, 0)), int(min(x1 + MIDDLE_COLUMNS[1] * w, hsv.shape[1]))
    r0, r1 = int(max(y1 + rows[0] * h, 0)), int(min(y1 + rows[1] * h, hsv.shape[0]))
    if c1 - c0 < 2 or r1 - r0 < 2:
        return None
    hist = cv2.calcHist([hsv[r0:r1, c0:c1]], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    total = hist.sum()
    return hist / total if total > 0 else None


def person_histogram(hsv: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Torso and legs histograms side by side, normalised to sum 1 (None when the box is off the frame)."""
    parts = [region_histogram(hsv, box, rows) for rows in (TORSO_ROWS, LEGS_ROWS)]
    if any(p is None for p in parts):
        return None
    return np.concatenate(parts) / 2


class AppearanceBank:
    """Mean histogram per track id, added to frame by frame."""

    def __init__(self, stop: int | None = None) -> None:
        self.stop = stop  # frames from this index on are not added (a chunk's overlap, which the next chunk adds)
        self.reset()

    def reset(self) -> None:
        self._sums: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}

    def add(self, frame_bgr: np.ndarray, track_ids: np.ndarray, boxes_xyxy: np.ndarray,
            box_scores: np.ndarray, index: int | None = None) -> None:
        """The people of one frame (its ``index`` in the video, checked against ``stop`` when given)."""
        if not len(track_ids) or (index is not None and self.stop is not None and index >= self.stop):
            return
        hsv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2HSV)
        for tid, box, score in zip(track_ids.tolist(), boxes_xyxy, box_scores):
            hist = person_histogram(hsv, box) if score >= MIN_BOX_SCORE else None
            if hist is not None:  # float32: 256 bytes per track
                self._sums[tid] = self._sums.get(tid, 0) + hist.astype(np.float32)
                self._counts[tid] = self._counts.get(tid, 0) + 1

    def histograms(self) -> dict[int, np.ndarray]:
        """Track id -> mean histogram (sums to 1)."""
        return {tid: s / self._counts[tid] for tid, s in self._sums.items()}

    def totals(self) -> dict[int, tuple[list[float], int]]:
        """Track id -> (histogram sum, frames added), plain lists (JSON): what ``histograms`` averages. Banks of
        parts of one video (chunks) are merged by adding these (``add_totals``)."""
        return {tid: (s.tolist(), self._counts[tid]) for tid, s in self._sums.items()}

    def add_totals(self, totals: dict[int, tuple[list[float], int]], ids: dict[int, int] | None = None) -> None:
        """Add another bank's ``totals``, its track ids renamed by ``ids`` (the others kept)."""
        for tid, (hist_sum, count) in totals.items():
            tid = (ids or {}).get(int(tid), int(tid))
            self._sums[tid] = self._sums.get(tid, 0) + np.asarray(hist_sum, np.float32)
            self._counts[tid] = self._counts.get(tid, 0) + int(count)

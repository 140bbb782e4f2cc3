"""One-Euro keypoint smoothing per track (Casiez, Roussel and Vogel, CHI 2012), off by default (MDPN has none).

Each coordinate of each keypoint of each track is a 1-D One-Euro filter: a low-pass filter whose cutoff rises with
the filtered speed, ``cutoff = min_cutoff + beta * |dx/dt|``, so slow motion is smoothed (less jitter) and fast
motion follows with little lag. Scores pass through. State of a track not seen for ``forget_after_s`` is dropped,
so memory stays bounded by the tracks alive in that window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Casiez et al. defaults: 1 Hz minimum cutoff, derivative cutoff 1 Hz; beta 0.007 (their pointer example; here
# speed is in pixels/s, so 0.007 raises the cutoff by 3.5 Hz at 500 px/s).
DEFAULT_MIN_CUTOFF = 1.0
DEFAULT_BETA = 0.007
DEFAULT_D_CUTOFF = 1.0


def smoothing_factor(cutoff_hz, dt_s: float):
    """alpha of an exponential filter with the given cutoff: 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, np.float64))
    return 1.0 / (1.0 + tau / dt_s)


@dataclass
class _TrackState:
    last_time_s: float
    position: np.ndarray  # (K, 2) filtered x, y
    speed: np.ndarray  # (K, 2) filtered dx/dt, dy/dt (pixels/s)


class KeypointSmoother:
    """One-Euro filter per track id and keypoint. ``fps`` gives the time step when ``time_s`` does not advance."""

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF, fps: float = 25.0, forget_after_s: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or fps <= 0:
            raise ValueError("KeypointSmoother: cutoffs and fps must be > 0, beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.fps, self.forget_after_s = fps, forget_after_s
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[int, _TrackState] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def _step(self, state: _TrackState, xy: np.ndarray, time_s: float) -> np.ndarray:
        dt = time_s - state.last_time_s
        if dt <= 0:
            dt = 1.0 / self.fps
        a_d = smoothing_factor(self.d_cutoff, dt)
        state.speed = a_d * (xy - state.position) / dt + (1.0 - a_d) * state.speed
        a = smoothing_factor(self.min_cutoff + self.beta * np.abs(state.speed), dt)
        state.position = a * xy + (1.0 - a) * state.position
        state.last_time_s = time_s
        return state.position

    def update(self, track_ids: np.ndarray, keypoints: np.ndarray, time_s: float) -> np.ndarray:
        """Smoothed copy of ``keypoints`` (N, K, 3) for the tracks ``track_ids`` (N,) at time ``time_s``."""
        out = np.array(keypoints, np.float64, copy=True)
        for i, tid in enumerate(np.asarray(track_ids).tolist()):
            xy = out[i, :, :2]
            state = self._tracks.get(tid)
            if state is None or state.position.shape != xy.shape:
                self._tracks[tid] = _TrackState(time_s, xy.copy(), np.zeros_like(xy))
                continue
            out[i, :, :2] = self._step(state, xy, time_s)
        stale = [t for t, s in self._tracks.items() if time_s - s.last_time_s > self.forget_after_s]
        for tid in stale:
            del self._tracks[tid]
        return out.astype(np.asarray(keypoints).dtype, copy=False)

"""Optical-flow propagation of remembered keypoints (Xiao et al. 2018 flow tracking, as MDPN section 2 uses it).

Flow is computed once per consecutive frame pair on grayscale frames resized by ``scale`` (OpenCV DIS or
Farneback) and sampled bilinearly at the points. Coordinates follow ``cv2.resize``: pixel centres map as
``u = (x + 0.5) * scale - 0.5``; points outside the frame take the flow of the nearest border pixel.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

FLOW_METHODS = ("dis", "farneback")
# DIS "fast" preset: on a 960x540 frame (1080p at scale 0.5, 2 shared CPU cores) 34 ms and 0.2 px mean error on a
# translated texture, against 190 ms / 0.06 px for "medium"; OKS tolerates several pixels, so speed wins.
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
# Farneback parameters of the OpenCV optical-flow tutorial: pyramid scale 0.5, 3 levels, 15 px window,
# 3 iterations, polynomial neighbourhood 5 with sigma 1.2.
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def to_gray(frame_bgr: np.ndarray, scale: float) -> np.ndarray:
    """BGR (or gray) uint8 frame -> gray uint8 resized by ``scale`` (area interpolation when shrinking)."""
    gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if scale == 1.0:
        return np.ascontiguousarray(gray)
    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def sample_flow(flow: np.ndarray, points_xy: np.ndarray, scale: float) -> np.ndarray:
    """Displacement (N, 2) in original-frame pixels at ``points_xy`` (N, 2, original pixels) from a flow field
    (H, W, 2) computed at ``scale``: bilinear interpolation, points clamped to the field."""
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    h, w = flow.shape[:2]
    u = np.clip((pts[:, 0] + 0.5) * scale - 0.5, 0.0, w - 1)
    v = np.clip((pts[:, 1] + 0.5) * scale - 0.5, 0.0, h - 1)
    x0, y0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (u - x0)[:, None], (v - y0)[:, None]  # float64: the float32 samples are promoted exactly
    top = flow[y0, x0] * (1 - fx) + flow[y0, x1] * fx  # (converting the whole field first cost 1.4 s per clip)
    bottom = flow[y1, x0] * (1 - fx) + flow[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy) / scale


class FlowPropagator:
    """``Propagator`` moving points from the previous frame into the current one along the optical flow.

    ``method``: "dis" (OpenCV DIS, ``DIS_PRESET``) or "farneback"; ``scale``: frames are resized by it before the
    flow (0.5 halves each side: about 4x faster, coarser motion).
    """

    def __init__(self, method: str = "dis", scale: float = 0.5) -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"flow scale must be in (0, 1], got {scale}")
        self.method = method
        self.scale = float(scale)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESET) if method == "dis" else None
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self.flow: np.ndarray | None = None  # (H, W, 2) float32, previous -> current frame, scaled pixels

    def _compute(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        if self._dis is not None:
            return self._dis.calc(prev, cur, None)
        return cv2.calcOpticalFlowFarneback(prev, cur, None, **FARNEBACK_PARAMS)

    def advance(self, frame_bgr: np.ndarray) -> None:
        """Take the next frame; the flow from the previous one is computed here, once."""
        gray = to_gray(frame_bgr, self.scale)
        if self._prev is not None and self._prev.shape == gray.shape:
            self.flow = self._compute(self._prev, gray)
        else:
            if self._prev is not None:
                log.warning("frame size changed from %s to %s: flow restarts", self._prev.shape, gray.shape)
            self.flow = None
        self._prev = gray

    def move(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) previous-frame pixels -> (N, 2) current-frame pixels (unchanged before the second frame)."""
        pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
        if self.flow is None or len(pts) == 0:
            return pts.copy()
        return pts + sample_flow(self.flow, pts, self.scale)

"""Optical-flow propagation of remembered keypoints (Xiao et al. 2018 flow tracking, as MDPN section 2 uses it).

Flow is computed once per consecutive frame pair on grayscale frames resized by ``scale`` (OpenCV DIS or
Farneback) and sampled bilinearly at the points. Coordinates follow ``cv2.resize``: pixel centres map as
``u = (x + 0.5) * scale - 0.5``; points outside the frame take the flow of the nearest border pixel.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Sequence

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
# Global check of a frame pair (``flow_trusted``). On the bundled clip at scale 0.5 the mean photometric residual of
# the previous frame against the current one warped back along the flow is 0.9-3.0 gray levels (median 1.3); a black
# frame, a cut or a flash leaves 100+. Raising MAX_RESIDUAL trusts worse flow.
MAX_RESIDUAL = 20.0  # gray levels (0-255), mean |prev - cur(x + flow(x))| above which the flow is not trusted
MIN_TEXTURE = 4.0  # gray levels, standard deviation below which a frame has nothing for the flow to follow


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


def photometric_residual(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray) -> float:
    """Mean |prev(x) - cur(x + flow(x))| in gray levels: how well the flow explains the new frame."""
    h, w = prev.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    back = cv2.remap(cur, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return float(cv2.absdiff(prev, back).mean())


def flow_trusted(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray) -> bool:
    """Whether the flow of a frame pair can move remembered poses: both frames have texture (not black, not a
    flat flash) and the flow explains the new frame (``MAX_RESIDUAL``; a cut or a blackout breaks it)."""
    if prev.std() < MIN_TEXTURE or cur.std() < MIN_TEXTURE:
        return False
    return photometric_residual(prev, cur, flow) <= MAX_RESIDUAL


class FlowPropagator:
    """``Propagator`` moving points from the previous frame into the current one along the optical flow.

    ``method``: "dis" (OpenCV DIS, ``DIS_PRESET``) or "farneback"; ``scale``: frames are resized by it before the
    flow (0.5 halves each side: about 4x faster, coarser motion); ``check``: judge every frame pair
    (``flow_trusted``) and say so in ``trusted``, so that the tracker can refuse a bad flow.
    """

    def __init__(self, method: str = "dis", scale: float = 0.5, check: bool = False) -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"flow scale must be in (0, 1], got {scale}")
        self.method = method
        self.scale = float(scale)
        self.check = check
        self._dis = self._new_dis()
        self._worker: ThreadPoolExecutor | None = None  # computes prepared flows (``prepare``), with its own DIS
        self._worker_dis = None
        self._worker_prev: np.ndarray | None = None  # the worker's latest gray frame
        self.reset()

    def _new_dis(self):
        return cv2.DISOpticalFlow_create(DIS_PRESET) if self.method == "dis" else None

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self.flow: np.ndarray | None = None  # (H, W, 2) float32, previous -> current frame, scaled pixels
        self.trusted = True  # False when ``check`` found the latest flow unreliable
        self._ahead: deque[tuple[np.ndarray, Future]] = deque()  # (frame, future (gray, flow, trusted)), in order

    def _compute(self, prev: np.ndarray, cur: np.ndarray, dis) -> np.ndarray:
        if dis is not None:
            return dis.calc(prev, cur, None)
        return cv2.calcOpticalFlowFarneback(prev, cur, None, **FARNEBACK_PARAMS)

    def _pair(self, prev: np.ndarray | None, gray: np.ndarray, dis) -> tuple[np.ndarray | None, bool]:
        """(flow, trusted) from ``prev`` to ``gray``; (None, True) for a first frame or a new frame size."""
        if prev is None or prev.shape != gray.shape:
            return None, True
        flow = self._compute(prev, gray, dis)
        return flow, not self.check or flow_trusted(prev, gray, flow)

    def prepare(self, frames_bgr: Sequence[np.ndarray]) -> None:
        """Start the flow into each of ``frames_bgr`` (frames that ``advance`` will take next, in this order) on a
        worker thread, so that it runs while the caller does other work (the pose network); ``advance`` then takes
        it instead of computing it. The same flows either way; a frame already prepared is skipped."""
        for frame in frames_bgr:
            if any(f is frame for f, _ in self._ahead):
                continue
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posetrack-flow")
                self._worker_dis = self._new_dis()
            prev = None if self._ahead else self._prev  # None: the worker's previous frame
            self._ahead.append((frame, self._worker.submit(self._flow_into, frame, prev, not self._ahead)))

    def close(self) -> None:
        """Stop the worker thread of ``prepare`` (after its current flow); ``prepare`` starts a new one."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
        self._ahead.clear()

    def _flow_into(self, frame_bgr: np.ndarray, prev: np.ndarray | None, first: bool):
        """On the worker, in order: the gray frame and the flow into it from ``prev`` (the first of a run of prepared
        frames) or from the frame prepared before it."""
        gray = to_gray(frame_bgr, self.scale)
        prev = prev if first else self._worker_prev
        self._worker_prev = gray
        return (gray, *self._pair(prev, gray, self._worker_dis))

    def advance(self, frame_bgr: np.ndarray) -> None:
        """Take the next frame; the flow from the previous one is computed here, once (or was, by ``prepare``)."""
        if self._ahead and self._ahead[0][0] is frame_bgr:
            gray, flow, trusted = self._ahead.popleft()[1].result()
        else:
            self._ahead.clear()  # frames were skipped: what was prepared does not follow this frame
            gray = to_gray(frame_bgr, self.scale)
            flow, trusted = self._pair(self._prev, gray, self._dis)
        if self._prev is not None and self._prev.shape != gray.shape:
            log.warning("frame size changed from %s to %s: flow restarts", self._prev.shape, gray.shape)
        self.flow, self.trusted, self._prev = flow, trusted, gray

    def move(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) previous-frame pixels -> (N, 2) current-frame pixels (unchanged before the second frame)."""
        pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
        if self.flow is None or len(pts) == 0:
            return pts.copy()
        return pts + sample_flow(self.flow, pts, self.scale)

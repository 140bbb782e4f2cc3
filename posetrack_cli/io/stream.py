"""Live sources: cameras and network streams read by a capture thread that keeps only the newest frame.

A live source cannot wait for the pipeline: a camera or a server pushes frames at its own rate, and frames queued
behind a slow pipeline only add latency. ``LiveReader`` therefore reads continuously in a thread and hands the
pipeline the newest frame, counting the older ones it overwrote (dropped). Each frame carries its source index (the
count of frames read since the run started, across reconnections) and its capture time (wall clock, when the
decoder returned it), so that outputs can say which frame they are and how late they were written.

A stream that ends or stalls is reopened with exponential backoff when ``reconnect`` is on (one log line each
time); frame indices keep counting. A video file can be read as a live source too (``pace``: at its own frame rate,
as a camera would deliver it), which is how a recorded clip is replayed live.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np

from posetrack_cli.config import DEFAULT_SEQUENCE_FPS
from posetrack_cli.errors import InputError
from posetrack_cli.records import Frame, VideoInfo

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "tcp", "udp", "rtp", "srt")
_CAMERA_DEVICE = re.compile(r"^/dev/video\d+$")
OPEN_TIMEOUT_S = 10.0  # a server that does not answer within this is reported (or retried with --reconnect)
READ_TIMEOUT_S = 5.0  # a stream that delivers no frame for this long has stalled: it ends, or is reopened
_POLL_S = 0.1  # seconds between checks of the stop flag while waiting


def scheme(source: str) -> str:
    """The URL scheme of ``source`` in lower case ("" for a path or a camera)."""
    found = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", source)
    return found[1].lower() if found else ""


def camera_index(source: str) -> int | None:
    """The OpenCV camera index of ``0``/``1``... (None for anything else; ``/dev/videoN`` is opened by path)."""
    return int(source) if source.isdigit() else None


def is_live(source: str) -> bool:
    """Whether ``source`` names a camera or a stream URL (recognised from the string alone)."""
    return camera_index(source) is not None or bool(_CAMERA_DEVICE.match(source)) or scheme(source) in STREAM_SCHEMES


def describe(source: str) -> str:
    """``source`` as a user reads it in a message: a camera is named as one."""
    return f"camera {source}" if camera_index(source) is not None or _CAMERA_DEVICE.match(source) else source


def _fix_hint(source: str) -> str:
    if camera_index(source) is not None or _CAMERA_DEVICE.match(source):
        return "check that the camera is connected and not used by another program (ls /dev/video*)"
    if scheme(source):
        return "check the URL and that the server is running and reachable (--reconnect keeps retrying)"
    return "check the path"


def open_capture(source: str) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` of ``source`` (camera index, device, URL or file), with open and read
    timeouts for URLs so that a dead server cannot block the run; a closed one when it cannot be opened."""
    index = camera_index(source)
    if index is not None:
        return cv2.VideoCapture(index)
    if scheme(source):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000)]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(source)


def _first_frame(cap: cv2.VideoCapture) -> np.ndarray | None:
    if not cap.isOpened():
        return None
    ok, image = cap.read()
    return image if ok and image is not None else None


def _fps(cap: cv2.VideoCapture) -> float:
    """The rate the source announces; streams often announce none or a timebase (90000), then 25."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and np.isfinite(fps) and 0 < fps <= 240 else DEFAULT_SEQUENCE_FPS


@dataclass
class Opened:
    """A live source opened and its first frame read."""

    cap: cv2.VideoCapture
    first: np.ndarray  # (H, W, 3) BGR uint8
    info: VideoInfo


def open_live(source: str) -> Opened:
    """Open ``source`` and read its first frame; a one-line ``InputError`` naming the source and what to check
    when it cannot be opened or gives no frame."""
    if not scheme(source) and camera_index(source) is None and not Path(source).exists():
        raise InputError(f"{describe(source)}: no such device or file; {_fix_hint(source)}")
    cap = open_capture(source)
    first = _first_frame(cap)
    if first is None:
        cap.release()
        raise InputError(f"{describe(source)}: cannot open it or read a frame; {_fix_hint(source)}")
    first = _bgr(first)
    info = VideoInfo(source, _fps(cap), int(first.shape[1]), int(first.shape[0]), 0, 0, "stream")
    return Opened(cap, first, info)


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image


class LiveFrame(NamedTuple):
    frame: Frame  # index: frames read since the start (across reconnections); time_s: capture time - start
    captured_at: float  # wall-clock time (time.time()) when the decoder returned the frame


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: ``first_s``, doubled after each failure, at most ``max_s``."""

    first_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.first_s * 2 ** max(0, attempt - 1))


class LiveReader:
    """The capture thread. ``next_frame`` returns the newest frame not yet taken (older ones are dropped and
    counted), or None once the source has ended (or ``stop`` was called). Use as a context manager: leaving it
    stops the thread and releases the capture.

    ``reopen``: called to open the source again after it ended or stalled (None: the run ends with the stream);
    ``pace_fps``: deliver frames no faster than this rate (a file replayed live)."""

    def __init__(self, opened: Opened, reopen: Callable[[], cv2.VideoCapture] | None = None,
                 backoff: Backoff = Backoff(), pace_fps: float | None = None) -> None:
        self._cap, self._reopen, self._backoff, self._pace = opened.cap, reopen, backoff, pace_fps
        self._source = opened.info.path
        self._cond = threading.Condition()
        self._slot: LiveFrame | None = None
        self._ended = False
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.read = self.dropped = self.reconnects = 0
        self._start = time.time()
        self._put(opened.first)
        self._thread = threading.Thread(target=self._run, name="posetrack-capture", daemon=True)

    def __enter__(self) -> LiveReader:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._thread.join()
        self._cap.release()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def next_frame(self, timeout_s: float = _POLL_S) -> LiveFrame | None | bool:
        """The newest frame; False when none arrived within ``timeout_s`` (call again); None at the end."""
        with self._cond:
            if self._slot is None and not self._ended:
                self._cond.wait(timeout_s)
            if self._error is not None:
                raise self._error
            if self._slot is None:
                return None if self._ended else False
            frame, self._slot = self._slot, None
            return frame

    def _put(self, image: np.ndarray) -> None:
        now = time.time()
        with self._cond:
            if self._slot is not None:
                self.dropped += 1
            self._slot = LiveFrame(Frame(self.read, now - self._start, _bgr(image)), now)
            self.read += 1
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # handed to the consumer, which re-raises it
            self._error = exc
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._pace:
                self._stop.wait(max(0.0, self._start + self.read / self._pace - time.time()))
            ok, image = self._cap.read()
            if ok and image is not None:
                self._put(image)
            elif self._reopen is None or not self._reconnect():
                return

    def _reconnect(self) -> bool:
        """Reopen the source with backoff until a frame comes or the reader is stopped; False when stopped."""
        self._cap.release()
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            wait = self._backoff.delay(attempt)
            log.warning("%s: stream ended or stalled after frame %d; reconnecting in %.1f s (attempt %d)",
                        describe(self._source), self.read - 1, wait, attempt)
            if self._stop.wait(wait):
                return False
            self._cap = self._reopen()
            image = _first_frame(self._cap)
            if image is not None:
                self.reconnects += 1
                self._put(image)
                return True
            self._cap.release()
        return False

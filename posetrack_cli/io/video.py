"""Video files in and out: probing and a streaming frame generator over anything OpenCV reads, and ``VideoSink``
(``sources.py`` picks between a video file and a folder of frames).

Frames are decoded upright: a rotation stored in the container (phone videos) is applied by the decoder, so widths,
heights and every coordinate posetrack writes are those of the frame as a player shows it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from posetrack_cli.config import DEFAULT_SEQUENCE_FPS
from posetrack_cli.errors import InputError, OutputError
from posetrack_cli.io import ffmpeg
from posetrack_cli.io.ffmpeg import REENCODE_HINT, describe_undecodable
from posetrack_cli.records import Frame, VideoInfo

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp")


_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a stored frame ``rotation`` degrees clockwise (used only where the decoder does not do it itself)."""
    return cv2.rotate(image, _ROTATE[rotation]) if rotation in _ROTATE else image


@contextlib.contextmanager
def _capture(path: Path) -> Iterator[tuple[cv2.VideoCapture, int]]:
    """An open capture and the rotation still to apply to its frames (0 when the decoder turns them itself)."""
    cap = cv2.VideoCapture(str(path))
    try:
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360 if cap.isOpened() else 0
        auto = cap.isOpened() and cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1) \
            and bool(cap.get(cv2.CAP_PROP_ORIENTATION_AUTO))
        yield cap, 0 if auto else rotation
    finally:
        cap.release()


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _why_undecodable(path: Path) -> str:
    return describe_undecodable(path) or f"not a video, corrupt, or a codec OpenCV lacks; {REENCODE_HINT}"


def probe_video(p: Path) -> VideoInfo:
    """Open the video file ``p`` (it exists) and read its first frame; a clear ``InputError`` when it is not a video."""
    if not p.is_file():
        raise InputError(f"{p}: not a regular file (a pipe or device?); give a video file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied; make the file readable")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes); it is not a video")
    with _capture(p) as (cap, rotation):
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise InputError(f"{p}: cannot decode any frame: {_why_undecodable(p)}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        applied = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
    frame = upright(frame, rotation)
    fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_SEQUENCE_FPS
    return VideoInfo(str(p), fps, int(frame.shape[1]), int(frame.shape[0]), max(count, 0), applied)


def iter_video_frames(info: VideoInfo, max_frames: int | None = None, start: int = 0) -> Iterator[Frame]:
    """Yield every decodable ``Frame`` of a video file with index in ``[start, max_frames)``, in order, upright, BGR
    (grayscale and BGRA converted). Seeks to ``start``, which must be a keyframe for exact frames (runs/chunks.py).

    Streams: one frame in memory at a time. Times come from the container's timestamps (right for variable frame
    rate), falling back to index / fps where a timestamp is missing or goes backwards. Stops early at the end of
    decodable data; ``truncation_note`` compares what was decoded with what the container announced.
    """
    with _capture(Path(info.path)) as (cap, rotation):
        if start and not cap.set(cv2.CAP_PROP_POS_FRAMES, start):
            raise InputError(f"{info.path}: cannot seek to frame {start}; {REENCODE_HINT}")
        index, last = start, -1.0
        while max_frames is None or index < max_frames:
            ok, image = cap.read()
            if not ok or image is None:
                return
            msec = cap.get(cv2.CAP_PROP_POS_MSEC)
            time_s = msec / 1000.0 if np.isfinite(msec) and msec / 1000.0 > last else \
                (index / info.fps if last < 0 else last + 1.0 / info.fps)
            last = time_s
            yield Frame(index, time_s, upright(_as_bgr(image), rotation))
            index += 1


class VideoSink:
    """Write frames to a video at a given fps; used as a context manager. Frames go to a temporary name and are
    renamed on success, so a failed run leaves no half file.

    An .mp4 is H.264 when an ffmpeg binary is present (``ffmpeg.ffmpeg_exe``, ``h264``): frames are piped into one
    ffmpeg encode (``ffmpeg.H264Encoder``) at exactly ``fps``, then the audio of ``audio_from`` is muxed in by copying
    that stream (if the mux fails the overlay is kept without audio). A failing encoder raises ``ffmpeg.MediaError``
    (``render.render_video`` then writes the overlay again with ``h264=False``). Otherwise frames go through OpenCV:
    mp4v for .mp4, XVID for .avi. Odd widths and heights are padded with one black column/row (H.264 yuv420p and
    mp4v need even sizes).
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 audio_from: str | os.PathLike | None = None, h264: bool = True) -> None:
        self.path = Path(path)
        self.fps = fps
        self.size = (size[0] + size[0] % 2, size[1] + size[1] % 2)  # (width, height), even
        self.audio_from = audio_from
        self.h264 = h264
        self._tmp = partial_path(self.path)
        self._writer: cv2.VideoWriter | None = None
        self._encoder: ffmpeg.H264Encoder | None = None
        self.frames_written = 0
        self.codec = ""  # "h264", "mp4v" or "xvid" once written

    def __enter__(self) -> VideoSink:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path.parent}: {exc.strerror}; choose a writable path") from None
        avi = self.path.suffix.lower() == ".avi"
        if not avi and self.h264:
            if ffmpeg.ffmpeg_exe() is not None:
                self._encoder = ffmpeg.H264Encoder(self._tmp, self.fps, self.size)
                self.codec = "h264"
                return self
            log.info("no ffmpeg: %s is MPEG-4 part 2 (mp4v); pip install imageio-ffmpeg for H.264", self.path)
        self.codec = "xvid" if avi else "mp4v"
        fourcc = cv2.VideoWriter_fourcc(*("XVID" if avi else "mp4v"))
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            raise OutputError(f"cannot open {self.path} for writing video; check the folder and the file suffix "
                              "(.mp4 or .avi)")
        return self

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            frame = cv2.copyMakeBorder(frame, 0, max(0, self.size[1] - h), 0, max(0, self.size[0] - w),
                                       cv2.BORDER_CONSTANT, value=(0, 0, 0))[:self.size[1], :self.size[0]]
        if self._encoder is not None:
            self._encoder.write(frame)
        else:
            self._writer.write(frame)
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._finish()
                return
            except BaseException:  # the encoder's MediaError, an OutputError, an interrupt: no partial file stays
                self._discard()
                raise
        self._discard()

    def _discard(self) -> None:
        if self._encoder is not None:
            self._encoder.kill()
        if self._writer is not None:
            self._writer.release()
        _unlink_quietly(self._tmp)

    def _finish(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
        else:
            self._writer.release()
        written = _frame_count(self._tmp)
        if written != self.frames_written:  # OpenCV's writer fails silently (disk full, no encoder)
            raise OutputError(f"cannot write {self.path}: {written} of {self.frames_written} frames reached the "
                              "file (disk full?)")
        if self._encoder is None or self.audio_from is None or not self._with_audio():
            _replace(self._tmp, self.path)

    def _with_audio(self) -> bool:
        """Mux the source audio next to the encoded video, over ``self.path``; False when that is not possible."""
        muxed = partial_path(self.path, "h264-partial")
        try:
            ffmpeg.mux_audio(self._tmp, muxed, self.audio_from, self.frames_written / self.fps)
            if _frame_count(muxed) == self.frames_written:
                _replace(muxed, self.path)
                _unlink_quietly(self._tmp)
                return True
            log.warning("adding the audio to %s lost frames; the overlay is kept without audio", self.path)
        except ffmpeg.MediaError as exc:
            log.warning("cannot add the audio to %s (%s); the overlay is kept without audio", self.path, exc)
        _unlink_quietly(muxed)
        return False


def partial_path(path: Path, stage: str = "partial") -> Path:
    """A temporary name ``VideoSink`` writes ``path`` under (a leftover of a killed run is safe to delete)."""
    return path.with_name(f".{path.stem}.{stage}{path.suffix or '.mp4'}")


def sink_leftovers(path: Path) -> list[Path]:
    """Temporary files a killed ``VideoSink`` for ``path`` may have left behind."""
    return [partial_path(path), partial_path(path, "h264-partial")]


def _frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()


def _replace(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        _unlink_quietly(src)
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from None


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()



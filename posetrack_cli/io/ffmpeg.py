"""The ffmpeg binary, when there is one: H.264 overlays with the source audio, and what a file holds when OpenCV
cannot read it.

The binary is ``imageio_ffmpeg.get_ffmpeg_exe()`` when imageio-ffmpeg is installed, else ``ffmpeg`` on the PATH, else
none (overlays stay OpenCV mp4v, error messages stay generic). Every call runs ffmpeg as a subprocess with a time
limit; a failure raises ``MediaError`` and the caller keeps what it had.

Overlays are encoded once: ``H264Encoder`` pipes raw BGR frames into one ffmpeg process (libx264 runs beside the
Python process drawing the next frames), and ``mux_audio`` then copies that video stream next to the source audio.
Before, frames went through OpenCV's mp4v encoder, were decoded again and re-encoded to H.264; encoding once made
``posetrack render`` of the bundled clip about 1.6x faster (benchmarks/RESULTS.md §3).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ENCODE_TIMEOUT_S = 3600.0  # one overlay encode; long enough for hours of video, short enough to not hang forever
PROBE_TIMEOUT_S = 30.0


REENCODE_HINT = "re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"

class MediaError(Exception):
    """ffmpeg is missing or failed; the message carries ffmpeg's last error line."""


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str | None:
    """Path of an ffmpeg binary, or None."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError):
        return shutil.which("ffmpeg")


def fps_fraction(fps: float) -> Fraction:
    """The exact rational frame rate behind a float (29.97002997... -> 30000/1001, 12.5 -> 25/2)."""
    return Fraction(fps).limit_denominator(1_000_000)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = ffmpeg_exe()
    if exe is None:
        raise MediaError("no ffmpeg binary (pip install imageio-ffmpeg, or put ffmpeg on the PATH)")
    try:
        return subprocess.run([exe, "-hide_banner", "-nostdin", *args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MediaError(f"cannot run {exe}: {exc}") from None


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


H264_ARGS = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]  # playable everywhere


class H264Encoder:
    """One ffmpeg process encoding raw BGR frames, written to its stdin, as H.264 into an mp4 file at exactly
    ``fps`` with every frame kept. ``MediaError`` when ffmpeg is missing, cannot start, stops early or fails."""

    def __init__(self, out: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        """``size``: (width, height) of every frame, even (yuv420p)."""
        exe = ffmpeg_exe()
        if exe is None:
            raise MediaError("no ffmpeg binary (pip install imageio-ffmpeg, or put ffmpeg on the PATH)")
        rate = fps_fraction(fps)
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty ffmpeg can never block on it
        args = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                "-s", f"{size[0]}x{size[1]}", "-r", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
                *H264_ARGS, "-fps_mode", "passthrough", "-map_metadata", "-1", "-movflags", "+faststart",
                "-f", "mp4", str(out)]
        try:
            # its own session: Ctrl-C in a terminal signals the whole foreground group, and a live run stopped by
            # it still finishes its overlay (a file run interrupted discards it and kills the encoder itself)
            self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr, start_new_session=True)
        except (OSError, subprocess.SubprocessError) as exc:
            self._stderr.close()
            raise MediaError(f"cannot run {exe}: {exc}") from None

    def write(self, frame: np.ndarray) -> None:
        """One (height, width, 3) uint8 BGR frame of the encoder's size."""
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (OSError, ValueError):  # BrokenPipeError: ffmpeg has exited
            self.kill()
            raise MediaError(f"ffmpeg stopped while encoding: {self._error()}") from None

    def close(self, timeout: float = ENCODE_TIMEOUT_S) -> None:
        """End of frames: wait for ffmpeg to finish the file."""
        try:
            self._proc.stdin.close()
            code = self._proc.wait(timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            self.kill()
            raise MediaError(f"ffmpeg did not finish: {exc}") from None
        if code != 0:
            message = self._error()
            self._stderr.close()
            raise MediaError(f"ffmpeg exit {code}: {message}")
        self._stderr.close()

    def kill(self) -> None:
        """Stop ffmpeg at once (the caller discards its file)."""
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.close()
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self._proc.wait(10)

    def _error(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            return _last_line(self._stderr.read())
        return "no message"


def mux_audio(video_in: str | os.PathLike, out: str | os.PathLike, audio_from: str | os.PathLike,
              seconds: float) -> None:
    """Copy the video stream of ``video_in`` (no re-encoding) into ``out`` with the first audio stream of
    ``audio_from``, if it has one, cut to ``seconds`` (AAC)."""
    args = ["-loglevel", "error", "-y", "-i", str(video_in), "-t", f"{seconds:.6f}", "-i", str(audio_from),
            "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-map_metadata", "-1",
            "-movflags", "+faststart", "-f", "mp4", str(out)]
    done = _run(args, ENCODE_TIMEOUT_S)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg exit {done.returncode}: {_last_line(done.stderr)}")


def transcode_h264(src: str | os.PathLike, out: str | os.PathLike, keyframe_s: float = 1.0,
                   seconds: float | None = None) -> None:
    """``src`` (its first ``seconds``, default all) as an H.264 mp4 (with its first audio track as AAC) that every
    browser plays: same frames and timestamps, upright, a keyframe every ``keyframe_s`` so that seeking is quick
    (preset superfast, benchmarks/RESULTS.md §9).
    ``MediaError`` on failure."""
    limit = [] if seconds is None else ["-t", f"{seconds:.6f}"]
    args = ["-loglevel", "error", "-y", "-i", str(src), *limit, "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264",
            "-preset", "superfast", "-crf", "23", "-pix_fmt", "yuv420p", "-force_key_frames",
            f"expr:gte(t,n_forced*{keyframe_s:g})", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-fps_mode",
            "passthrough", "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1", "-movflags", "+faststart",
            "-f", "mp4", str(out)]
    done = _run(args, ENCODE_TIMEOUT_S)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg exit {done.returncode}: {_last_line(done.stderr)}")


@dataclass(frozen=True)
class StreamFacts:
    """What ``ffmpeg -i`` says about a file."""

    readable: bool  # ffmpeg recognised the container
    video_codec: str | None  # e.g. "h264", "none (QQQQ / 0x51515151)" for a codec ffmpeg does not know
    audio_codec: str | None
    rotation: float  # display rotation in degrees counter-clockwise (0 when none)
    duration_s: float | None  # of the longest stream
    error: str  # ffmpeg's last line when not readable


_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): ([^,\n]+)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def stream_facts(path: str | os.PathLike) -> StreamFacts:
    """Container and codecs of ``path`` as ffmpeg sees them (``MediaError`` without ffmpeg)."""
    done = _run(["-i", str(Path(path))], PROBE_TIMEOUT_S)  # no output file: exit status 1 by design
    text = done.stderr.decode("utf-8", "replace")
    video = audio = None
    for kind, codec in _STREAM.findall(text):
        if kind == "Video" and video is None:
            video = codec.strip()
        elif kind == "Audio" and audio is None:
            audio = codec.strip()
    rotation, duration = _ROTATION.search(text), _DURATION.search(text)
    readable = "Input #0" in text
    seconds = None if duration is None else \
        int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
    return StreamFacts(readable, video, audio, float(rotation.group(1)) if rotation else 0.0, seconds,
                       "" if readable else _last_line(done.stderr))


def describe_undecodable(path: str | os.PathLike) -> str:
    """Why OpenCV could not decode ``path`` and what to do, from ffmpeg's view of it ("" when unknown)."""
    try:
        facts = stream_facts(path)
    except MediaError:
        return ""
    if not facts.readable:
        return "not a video file (no container ffmpeg knows); check what the file is"
    if facts.video_codec is None:
        only = f", only {facts.audio_codec.split(' ')[0]} audio" if facts.audio_codec else ""
        return f"no video stream in it{only}"
    if facts.video_codec.startswith("none"):
        tag = re.search(r"\((\S+) /", facts.video_codec)
        return f"unsupported video codec {tag.group(1) if tag else facts.video_codec!r}; " + REENCODE_HINT
    return f"its {facts.video_codec.split(' ')[0]} video data do not decode (corrupt?); " + REENCODE_HINT



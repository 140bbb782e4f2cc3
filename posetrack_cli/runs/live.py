"""A live run: a camera or a stream URL (or a file replayed at its own rate) tracked as it arrives.

The capture thread (``io.stream.LiveReader``) keeps only the newest frame, so the pipeline never works on a frame
older than the one it just finished plus one: latency stays bounded whatever the speeds, and the frames that could
not be processed are dropped and counted. Every processed frame is appended to the ``.jsonl`` at once (flushed),
with its source index, capture time and latency (capture to the line); ``tracks.json`` is written when the run stops
(the stream ends, ``--duration``, Ctrl-C or SIGTERM: all of them write the final files), or at the end of every
segment with ``--segment``. The overlay is drawn and encoded as it goes by a writer thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from posetrack_cli.config import LiveConfig, PipelineConfig
from posetrack_cli.errors import InputError
from posetrack_cli.export import native
from posetrack_cli.io.background import BackgroundWriter
from posetrack_cli.io.download import Progress as DownloadProgress
from posetrack_cli.io.stream import LiveFrame, LiveReader, describe, open_capture, open_live
from posetrack_cli.io.video import VideoSink
from posetrack_cli.pipeline import Profile, Stages, VideoResult, build_stages, result_config, track_batch, write_outputs
from posetrack_cli.records import FrameResult, VideoInfo
from posetrack_cli.render import draw_tracks
from posetrack_cli.runs.latency import LatencyHistogram
from posetrack_cli.runs.outputs import check_writable
from posetrack_cli.runs.progress import Progress, Silent
from posetrack_cli.track.smoothing import KeypointSmoother

log = logging.getLogger(__name__)

MAX_REPEATS_S = 2.0  # the overlay repeats a processed frame for the dropped ones after it, up to this many seconds
OVERLAY_QUEUE = 4  # frames waiting for the overlay writer; the loop waits when it is this far behind


def live_output_path(source: str, out: Path) -> Path:
    """``out``, or ``out/live.json`` when ``out`` is a folder (a URL or camera has no usable file name)."""
    return out / "live.json" if out.is_dir() else out


def segment_path(path: Path, segment: int | None) -> Path:
    """``tracks.json`` -> ``tracks-0003.json`` for segment 3 (None: not segmented, the path itself)."""
    return path if segment is None else path.with_name(f"{path.stem}-{segment:04d}{path.suffix}")


@dataclass
class LiveState:
    """What lasts across segments: the tracker (ids go on), counters and the latency histogram."""

    stages: Stages
    info: VideoInfo
    tracker: object
    smoother: KeypointSmoother | None
    profile: Profile = field(default_factory=Profile)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    processed: int = 0
    people: int = 0
    tracks: int = 0  # summed over segments (a track spanning two segments counts in each)
    last_index: int = -1
    stopped: str = ""  # why the run ended: "stream ended", "duration", "SIGINT", "SIGTERM", "window closed"
    preview: Preview | None = None  # --show
    stop: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT and SIGTERM set ``stop`` (the loop finishes the frame, then writes the final files); a second one
    raises KeyboardInterrupt at once. Only in the main thread (elsewhere signals cannot be caught)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signal_name = signal.Signals(signum).name
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Overlay:
    """The overlay of one segment, drawn and encoded in a writer thread; each processed frame is repeated for the
    source frames dropped before the next one, so the overlay plays at the source's pace."""

    def __init__(self, path: Path, info: VideoInfo) -> None:
        self.sink = VideoSink(path, info.fps, (info.width, info.height))
        self.writer = BackgroundWriter(self._write, OVERLAY_QUEUE)
        self.max_repeats = max(1, int(MAX_REPEATS_S * info.fps))

    def __enter__(self) -> Overlay:
        self.sink.__enter__()
        self.writer.__enter__()
        return self

    def submit(self, image, result: FrameResult, repeats: int) -> None:
        self.writer.submit((image, result, min(max(1, repeats), self.max_repeats)))

    def _write(self, item) -> None:
        image, result, repeats = item
        drawn = draw_tracks(image, result)
        for _ in range(repeats):
            self.sink.write(drawn)

    def __exit__(self, *exc) -> None:
        try:
            self.writer.__exit__(*exc)
        finally:
            self.sink.__exit__(*exc)


class Preview:
    """``--show``: the overlay in a window (OpenCV HighGUI, in the loop's thread as HighGUI needs); q or Esc stops
    the run like Ctrl-C."""

    WINDOW = "posetrack"

    def __init__(self) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise InputError("--show needs a display (DISPLAY is not set); leave it out, or use --render")

    def show(self, image, result: FrameResult, stop: threading.Event) -> None:
        cv2.imshow(self.WINDOW, draw_tracks(image, result))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            stop.signal_name = "window closed"
            stop.set()

    def close(self) -> None:
        cv2.destroyAllWindows()


def warm_up(stages: Stages, image) -> None:
    """One detector and pose pass on the first frame before capture starts: the first forwards of a network set up
    its kernels and take many times longer than the next, which would show as latency of the first frames."""
    stages.estimator.estimate([image], stages.detector.detect([image]))


def run_live(source: str, out: Path, config: PipelineConfig, live: LiveConfig, render: Path | None = None,
             progress: Progress | None = None, download: DownloadProgress | None = None,
             pace: bool = False) -> VideoResult:
    """Track a live ``source`` (camera index or device, stream URL; a file with ``pace``: replayed at its frame
    rate) into ``out`` until it ends, ``live.duration_s`` passes or a signal comes; returns the run's row, whose
    warning line gives frames dropped, latency p50/p95 and reconnections."""
    start = time.perf_counter()
    preview = Preview() if live.show else None
    out_json = live_output_path(source, out)
    for folder in {out_json.parent, *([render.parent] if render else [])}:
        check_writable(folder)
    opened = open_live(source)  # a dead stream fails here, in one line, before any model is loaded
    try:
        stages = build_stages(config, None, download)
        warm_up(stages, opened.first)
    except BaseException:
        opened.cap.release()
        raise
    progress = progress or Silent()
    progress.started(describe(source), None)
    tracker = stages.new_tracker()
    smoother = KeypointSmoother(fps=opened.info.fps) if config.track.smoothing else None
    state = LiveState(stages, opened.info, tracker, smoother, preview=preview)
    stop = state.stop
    reopen = (lambda: open_capture(source)) if live.reconnect else None
    try:
        with stop_on_signals(stop), LiveReader(opened, reopen, pace_fps=opened.info.fps if pace else None) as reader:
            _run_segments(reader, state, out_json, render, live, stop, progress)
    finally:
        progress.close()
        if preview is not None:
            preview.close()
    return _result(source, out_json, state, reader, time.perf_counter() - start)


def _run_segments(reader: LiveReader, state: LiveState, out_json: Path, render: Path | None, live: LiveConfig,
                  stop: threading.Event, progress: Progress) -> None:
    """One segment after another until the run stops (a single one without ``segment_s``)."""
    deadline = time.monotonic() + live.duration_s if live.duration_s else None
    segment = 0 if live.segment_s else None
    while not state.stopped:
        ends = time.monotonic() + live.segment_s if live.segment_s else None
        _run_segment(reader, state, segment_path(out_json, segment), segment_path(render, segment) if render else None,
                     _Clock(ends, deadline, stop), progress)
        segment = None if segment is None else segment + 1


@dataclass
class _Clock:
    """When a segment ends (monotonic seconds, None: never), when the run ends, and the stop flag of signals."""

    segment_end: float | None
    deadline: float | None
    stop: threading.Event

    def why_stop(self) -> str | None:
        """"" to end the segment, a reason to end the run, None to go on."""
        now = time.monotonic()
        if self.stop.is_set():
            return getattr(self.stop, "signal_name", "stopped")
        if self.deadline is not None and now >= self.deadline:
            return "duration"
        return "" if self.segment_end is not None and now >= self.segment_end else None


def _run_segment(reader: LiveReader, state: LiveState, out_json: Path, render: Path | None, clock: _Clock,
                 progress: Progress) -> None:
    """Frames into one ``.jsonl`` (and overlay) until the segment or the run ends; then the segment's
    ``tracks.json`` and other formats. Sets ``state.stopped`` when the run ends."""
    header = {"video": state.info.to_dict(), "models": state.stages.models(),
              "config": result_config(state.stages.config)}
    dropped_before, processed_before = reader.dropped, state.processed
    overlay = Overlay(render, state.info) if render else None
    with native.JsonlStream(out_json.with_suffix(".jsonl"), header) as stream, overlay or contextlib.nullcontext():
        while (why := clock.why_stop()) is None:
            got = reader.next_frame()
            if got is None:
                why = "stream ended"
                break
            if got is not False:
                _process(got, state, stream, overlay)
                progress.advanced(1)
        state.stopped = why
        stream.finish(truncated=False, stopped=why or "segment", processed=state.processed - processed_before,
                      dropped=reader.dropped - dropped_before, reconnects=reader.reconnects,
                      **state.latency.summary())
    # tracks.json and the other formats from the segment's stream; refined only when asked (--refine): a live run
    # has no appearance histograms, and its outputs are usually read as they grow
    state.tracks += write_outputs(state.info, out_json, state.stages.config, None)["tracks"]


def _process(got: LiveFrame, state: LiveState, stream: native.JsonlStream, overlay: Overlay | None) -> None:
    """One frame through the pipeline (the detector on every ``every``-th processed frame), its line written at
    once with its capture time and latency, then handed to the overlay."""
    every = state.stages.config.detect.every
    result = track_batch(state.stages, state.tracker, state.smoother, state.info, [got.frame], state.profile,
                         run_detector=state.processed % every == 0)[0]
    latency_ms = (time.time() - got.captured_at) * 1000.0
    stream.write(result, capture_time=round(got.captured_at, 3), latency_ms=round(latency_ms, 1))
    state.latency.add(latency_ms)
    if overlay is not None:
        overlay.submit(got.frame.image, result, got.frame.index - state.last_index if state.last_index >= 0 else 1)
    if state.preview is not None:
        state.preview.show(got.frame.image, result, state.stop)
    state.processed += 1
    state.people += len(result.tracks)
    state.last_index = got.frame.index


def _result(source: str, out_json: Path, state: LiveState, reader: LiveReader, seconds: float) -> VideoResult:
    """The run's row: the note says how it stopped, the frames dropped, latency p50/p95 and reconnections."""
    read = max(reader.read, 1)
    lat = state.latency.summary()
    note = (f"stopped: {state.stopped}; processed {state.processed} of {reader.read} frames read, dropped "
            f"{reader.dropped} ({100.0 * reader.dropped / read:.1f} %); latency capture -> .jsonl p50 "
            f"{_ms(lat['latency_p50_ms'])} p95 {_ms(lat['latency_p95_ms'])}; {reader.reconnects} reconnection(s)")
    return VideoResult(describe(source), str(out_json), "done", state.processed, state.people, state.tracks, seconds,
                       note, profile=dict(state.profile.seconds))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"

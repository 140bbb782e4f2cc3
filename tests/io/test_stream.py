"""Live sources: what counts as a stream, the capture thread's newest-frame policy and its reconnection, and the
latency histogram. A scripted capture stands in for a camera here; tests/runs/test_live.py reads real loopback
streams served by ffmpeg."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from posetrack_cli.errors import InputError
from posetrack_cli.io.sources import input_kind
from posetrack_cli.io.stream import Backoff, LiveReader, Opened, is_live, open_live
from posetrack_cli.records import VideoInfo
from posetrack_cli.runs.latency import LatencyHistogram


@pytest.mark.parametrize("source, live", [
    ("0", True), ("12", True), ("/dev/video0", True), ("rtsp://cam.local:554/stream1", True),
    ("RTSP://CAM/x", True), ("rtmp://h/live/k", True), ("http://127.0.0.1:8080/video.mjpg", True),
    ("https://h/x.m3u8", True), ("tcp://127.0.0.1:5000", True), ("udp://@:1234", True),
    ("video.mp4", False), ("videos/", False), ("0.mp4", False), ("/dev/video", False), ("file:///x.mp4", False),
    ("./0", False),
])
def test_live_sources_are_recognised_from_the_string(source, live):
    assert is_live(source) is live


def test_input_kind_stream_from_the_string_or_when_asked(tmp_path):
    assert input_kind("rtsp://h:554/x") == "stream"  # a str: as a Path, "rtsp://h" would fold into "rtsp:/h"
    assert input_kind("0") == "stream"
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert input_kind(clip) == "video" and input_kind(clip, "stream") == "stream"


@pytest.mark.parametrize("source, words", [
    ("/dev/video9", ("camera /dev/video9", "no such device")),
    ("tcp://127.0.0.1:9", ("tcp://127.0.0.1:9", "server is running")),
])
def test_a_missing_camera_or_dead_server_is_one_input_error(source, words):
    with pytest.raises(InputError) as err:
        open_live(source)
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)


def test_backoff_doubles_up_to_its_maximum():
    assert [Backoff(0.5, 4.0).delay(k) for k in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


class ScriptedCapture:
    """A capture that returns ``frames`` frames at ``fps`` (each image filled with its number), then fails."""

    def __init__(self, frames: int, fps: float, first_value: int = 0) -> None:
        self.left, self.period, self.value = frames, 1.0 / fps, first_value
        self.released = False

    def read(self):
        if self.left <= 0:
            return False, None
        time.sleep(self.period)
        self.left -= 1
        self.value += 1
        return True, np.full((4, 6, 3), self.value % 256, np.uint8)

    def isOpened(self):
        return True

    def release(self):
        self.released = True


def _opened(cap: ScriptedCapture) -> Opened:
    return Opened(cap, np.zeros((4, 6, 3), np.uint8), VideoInfo("scripted", 50.0, 6, 4, 0, 0, "stream"))


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_dropped():
    cap = ScriptedCapture(frames=40, fps=200)
    taken = []
    with LiveReader(_opened(cap)) as reader:
        while (got := reader.next_frame(1.0)) is not None:
            if got is not False:
                taken.append(got)
                time.sleep(0.03)  # a pipeline 6x slower than the source
    indices = [g.frame.index for g in taken]
    assert indices == sorted(set(indices)) and indices[0] == 0 and indices[-1] == 40  # first + 40 read
    assert reader.read == 41 and reader.dropped == 41 - len(taken) and reader.dropped >= 20
    for g in taken:  # each frame's pixels are the ones captured as that index: nothing was mixed up
        assert int(g.frame.image[0, 0, 0]) == g.frame.index % 256
    assert cap.released


def test_a_fast_consumer_drops_nothing():
    with LiveReader(_opened(ScriptedCapture(frames=15, fps=100))) as reader:
        got = [g for g in iter(lambda: reader.next_frame(1.0), None) if g is not False]
    assert [g.frame.index for g in got] == list(range(16)) and reader.dropped == 0


def test_a_stream_that_ends_is_reopened_and_indices_go_on(caplog):
    streams = [ScriptedCapture(frames=5, fps=100, first_value=100)]

    def reopen():  # the server comes back once, then stays away
        return streams.pop() if streams else ScriptedCapture(frames=0, fps=1)

    got = []
    with LiveReader(_opened(ScriptedCapture(frames=4, fps=100)), reopen, Backoff(0.01, 0.01)) as reader:
        while not got or int(got[-1].frame.image[0, 0, 0]) != 105:  # until the last frame of the second stream
            if (g := reader.next_frame(1.0)) not in (None, False):
                got.append(g)
    assert [g.frame.index for g in got] == sorted({g.frame.index for g in got}) and got[-1].frame.index == 9
    assert len(got) + reader.dropped == 10 and reader.reconnects == 1
    lines = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert lines[0] == "scripted: stream ended or stalled after frame 4; reconnecting in 0.0 s (attempt 1)"


def test_stop_ends_a_reader_that_waits_for_a_dead_source():
    def reopen():
        return ScriptedCapture(frames=0, fps=1)

    reader = LiveReader(_opened(ScriptedCapture(frames=0, fps=1)), reopen, Backoff(0.05, 0.05))
    with reader:
        assert reader.next_frame(1.0).frame.index == 0
        threading.Timer(0.3, reader.stop).start()
        t = time.monotonic()
        while (got := reader.next_frame(0.1)) is False:
            pass
        assert got is None and time.monotonic() - t < 2.0


def test_latency_percentiles_match_numpy_to_a_bin():
    values = np.random.default_rng(0).gamma(2.0, 40.0, 5000)
    hist = LatencyHistogram()
    for v in values:
        hist.add(float(v))
    for q in (50, 95, 99):
        assert abs(hist.percentile(q) - np.percentile(values, q)) <= 1.0
    assert hist.summary()["latency_max_ms"] == round(values.max(), 1)
    assert LatencyHistogram().summary() == {"latency_p50_ms": None, "latency_p95_ms": None, "latency_max_ms": None}

"""Live runs on a real loopback stream: ffmpeg (imageio-ffmpeg's binary) serves the bundled clip as MPEG-TS over TCP
on 127.0.0.1 at its own rate (10 fps), and ``posetrack run tcp://...`` reads it. Covered: frames flow and the run
stops on --duration; a pipeline made slow keeps a flat latency by dropping frames; the server killed and restarted
mid-run is reconnected and the output goes on; SIGINT keeps every file. Nothing leaves the loopback interface."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_video
from scripted_stages import BoxPoses, CountingDetector

from posetrack_cli.cli import main
from posetrack_cli.config import (
    DetectConfig,
    LiveConfig,
    PipelineConfig,
    PoseConfig,
    TrackConfig,
)
from posetrack_cli.io.ffmpeg import ffmpeg_exe
from posetrack_cli.pipeline import Stages
from posetrack_cli.runs import live

CLIP = Path(__file__).resolve().parents[2] / "examples" / "vtest.avi"
FAST = ["--preset", "realtime", "--offline", "-q"]

pytestmark = [pytest.mark.enable_socket,  # only to find a free port on 127.0.0.1
              pytest.mark.usefixtures("one_torch_thread"),  # two threads crawl when other processes share the CPU
              pytest.mark.skipif(ffmpeg_exe() is None, reason="needs the ffmpeg of imageio-ffmpeg")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """ffmpeg serving the clip from ``start_s`` as MPEG-TS to one client on tcp://127.0.0.1:port, at 10 fps."""

    def __init__(self, port: int, start_s: float = 0.0, seconds: float = 60.0) -> None:
        self.url = f"tcp://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-re", "-ss", str(start_s), "-i", str(CLIP),
             "-t", str(seconds), "-c:v", "mpeg2video", "-q:v", "4", "-f", "mpegts", f"{self.url}?listen=1"],
            stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        time.sleep(0.3)  # listening

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server():
    servers = []

    def start(**kwargs) -> Server:
        servers.append(Server(**kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.kill()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def frames_of(path: Path) -> list[dict]:
    return [x for x in lines(path) if x["type"] == "frame"]


def test_frames_flow_and_the_run_stops_on_duration(server, tmp_path):
    src = server(port=free_port())
    out = tmp_path / "t.json"
    t = time.monotonic()
    result = CliRunner().invoke(main, ["run", src.url, "--out", str(out), "--duration", "6", "--crop-size", "160",
                                       *FAST])
    took = time.monotonic() - t
    assert result.exit_code == 0, result.output
    stream = lines(out.with_suffix(".jsonl"))
    frames = [x for x in stream if x["type"] == "frame"]
    assert stream[0]["type"] == "header" and stream[-1]["type"] == "end" and stream[-1]["stopped"] == "duration"
    assert stream[0]["config"]["detect"]["every"] == 5 and stream[0]["config"]["pose"]["crop_size"] == 160
    assert len(frames) >= 3 and sum(len(f["people"]) for f in frames) > 0  # 60 on a quiet 2-core CPU
    indices = [f["frame_index"] for f in frames]
    served = (time.monotonic() - src.started) * 10  # frames served so far (read while models loaded: then dropped)
    assert indices == sorted(set(indices)) and indices[-1] <= served + 5
    assert all(0 < f["latency_ms"] < 5000 and abs(f["capture_time"] - time.time()) < 600 for f in frames)
    assert stream[-1]["processed"] + stream[-1]["dropped"] >= indices[-1]
    final = json.loads(out.read_text())
    assert [f["frame_index"] for f in final["frames"]] == indices and final["stats"]["complete"]
    assert "stopped: duration" in result.output and "p95" in result.output
    assert took < 6 + 60  # models load, then 6 s of stream


def test_a_slow_pipeline_drops_frames_and_latency_stays_flat(server, tmp_path, monkeypatch):
    real, took = live.track_batch, []

    def slow(*args, **kwargs):
        t = time.monotonic()
        time.sleep(0.35)  # 3.5 source frames per processed frame on top of the networks
        out = real(*args, **kwargs)
        took.append(time.monotonic() - t)
        return out

    monkeypatch.setattr(live, "track_batch", slow)
    src = server(port=free_port())
    result = CliRunner().invoke(main, ["run", src.url, "--out", str(tmp_path / "t.json"), "--duration", "12",
                                       *FAST])
    assert result.exit_code == 0, result.output
    frames = frames_of(tmp_path / "t.jsonl")
    latency = np.array([f["latency_ms"] for f in frames]) / 1000
    gaps = np.diff([f["frame_index"] for f in frames])
    assert len(frames) == len(took) >= 6 and gaps.mean() > 2  # frames were dropped, about one in 3+ processed
    # No queue: a frame waits at most for the frame before it to finish, then takes its own processing time (plus
    # transport and decoding: 0.3 s); a queue would add every earlier frame's time and grow along the run.
    assert (latency[1:] <= np.array(took[:-1]) + np.array(took[1:]) + 0.3).all(), (latency, took)
    end = lines(tmp_path / "t.jsonl")[-1]
    assert end["dropped"] >= len(frames)


def test_a_server_killed_and_restarted_is_reconnected_and_the_output_goes_on(server, tmp_path, caplog):
    port = free_port()
    first = server(port=port)
    out = tmp_path / "t.json"
    config = PipelineConfig(DetectConfig(detectors=("yolo",), every=4),
                            PoseConfig(model="yolo-crop", crop_size=160), TrackConfig(box_propagation=True),
                            offline=True)

    def swap():  # once the run is going: the server dies, and comes back 1.5 s later (the clip 20 s on)
        time.sleep(4)
        first.kill()
        time.sleep(1.5)
        server(port=port, start_s=20)

    threading.Thread(target=swap, daemon=True).start()
    result = live.run_live(first.url, out, config, LiveConfig(reconnect=True, duration_s=16))
    stream = lines(out.with_suffix(".jsonl"))
    frames = [x for x in stream if x["type"] == "frame"]
    assert stream[-1]["reconnects"] == 1 and stream[-1]["stopped"] == "duration"
    indices = [f["frame_index"] for f in frames]
    assert indices == sorted(set(indices))
    times = [f["capture_time"] for f in frames]
    before = [f for f in frames if f["capture_time"] < times[0] + 3.5]
    after = [f for f in frames if f["capture_time"] > times[0] + 7]
    assert before and after  # frames from both servers, in one file
    lost = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert 1 <= len(lost) <= 4 and all(first.url in m for m in lost)
    assert "1 reconnection" in result.warning
    assert json.loads(out.read_text())["stats"]["complete"]


def test_sigint_stops_cleanly_with_every_file(server, tmp_path):
    src = server(port=free_port())
    out, overlay = tmp_path / "t.json", tmp_path / "o.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "posetrack_cli", "run", src.url, "--out", str(out), "--render",
                             str(overlay), *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "POSETRACK_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
                            start_new_session=True)
    jsonl = out.with_suffix(".jsonl")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not jsonl.exists() or len(frames_of(jsonl)) < 5):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: to the whole group (the overlay's encoder too)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    stream = lines(jsonl)
    assert stream[-1]["type"] == "end" and stream[-1]["stopped"] == "SIGINT"
    written = frames_of(jsonl)
    assert len(json.loads(out.read_text())["frames"]) == len(written) >= 5
    cap = cv2.VideoCapture(str(overlay))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    # each drawn frame stands for the dropped ones after it (at most 2 s of them), so the overlay keeps real time
    gaps = np.diff([f["frame_index"] for f in written])
    assert count == 1 + np.minimum(gaps, 20).sum()
    assert "stopped: SIGINT" in stdout


def test_a_dead_stream_is_one_line_and_exit_code_2(tmp_path):
    url = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    result = CliRunner().invoke(main, ["run", url, "--out", str(tmp_path / "t.json"), "--offline"])
    assert result.exit_code == 2
    expected = (f"error: {url}: cannot open it or read a frame; check the URL and that the server is running and "
                "reachable (--reconnect keeps retrying)")
    assert result.output.strip().splitlines() == [expected]
    assert not list(tmp_path.iterdir())


def test_segments_rotate_the_files_and_the_overlay_and_tracks_go_on(tmp_path, monkeypatch):
    """A file replayed live (at its 10 fps) in 1.6 s segments; a scripted detector and pose stand in for the
    networks (the loopback tests above run the real ones)."""
    video = write_video(tmp_path / "v.avi", [np.full((100, 120, 3), 100, np.uint8)] * 40)
    config = PipelineConfig(DetectConfig(every=2), track=TrackConfig(flow="none"))
    monkeypatch.setattr(live, "build_stages", lambda config, *a: Stages(CountingDetector(), BoxPoses(), config))
    out, overlay = tmp_path / "out" / "t.json", tmp_path / "out" / "o.mp4"
    result = live.run_live(str(video), out, config, LiveConfig(segment_s=1.6), overlay, pace=True)
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == sorted(f"{stem}-{k:04d}.{ext}" for k in range(3)
                           for stem, ext in (("o", "mp4"), ("t", "json"), ("t", "jsonl")))
    ends = [lines(out.parent / f"t-{k:04d}.jsonl")[-1] for k in range(3)]
    assert [e["stopped"] for e in ends] == ["segment", "segment", "stream ended"]
    frames = [f for k in range(3) for f in json.loads((out.parent / f"t-{k:04d}.json").read_text())["frames"]]
    indices = [f["frame_index"] for f in frames]
    assert indices == sorted(set(indices)) and indices[-1] == 39  # none twice, to the last (a loaded machine drops)
    assert sum(e["processed"] + e["dropped"] for e in ends) == 40 and sum(e["processed"] for e in ends) == len(frames)
    assert {p["track_id"] for f in frames for p in f["people"]} == {1}  # the tracker lives across segments
    counts = []
    for k in range(3):
        cap = cv2.VideoCapture(str(out.parent / f"o-{k:04d}.mp4"))
        counts.append(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        cap.release()
    assert all(counts) and sum(counts) == 1 + indices[-1] - indices[0]  # the overlays together keep real time
    assert result.frames == len(frames) and "stopped: stream ended" in result.warning and result.tracks == 3


def test_show_without_a_display_and_stream_options_on_a_file_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = str(tmp_path / "t.json")
    shown = CliRunner().invoke(main, ["run", str(CLIP), "--input-type", "stream", "--out", out, "--show"])
    assert shown.exit_code == 2 and shown.output == ("error: --show needs a display (DISPLAY is not set); leave it "
                                                     "out, or use --render\n")
    timed = CliRunner().invoke(main, ["run", str(CLIP), "--out", out, "--duration", "5"])
    assert timed.exit_code == 2 and "apply to streams" in timed.output and "--input-type stream" in timed.output
    assert not list(tmp_path.iterdir())

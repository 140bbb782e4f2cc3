"""Decoding and writing overlapped with compute (``PipelineConfig.prefetch``): the same bytes as without, errors of
the reader thread raised in the loop, every finished frame kept when the loop stops, no thread left behind; the
network-forward clock of ``--profile``."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP

from posetrack_cli import pipeline
from posetrack_cli.cli import main
from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig
from posetrack_cli.errors import InputError, OutputError
from posetrack_cli.export import native
from posetrack_cli.io.sources import probe
from posetrack_cli.pipeline import Profile, build_stages, run_video, track_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = PipelineConfig(detect=DetectConfig(detectors=("ssdlite",)), pose=PoseConfig(model="yolo-crop"),
                      frame_batch=2, max_frames=6)


@pytest.fixture(scope="module")
def stages():
    return build_stages(FAST)


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    yield
    deadline = time.monotonic() + 2.0
    names = ("posetrack-prefetch", "posetrack-writer", "posetrack-flow")
    while any(t.name in names for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name in names]


def with_prefetch(stages, depth: int, flow_thread: str = "off"):
    return dataclasses.replace(stages, config=FAST.with_(prefetch=depth, flow_thread=flow_thread))


@pytest.mark.parametrize("track", [{}, {"box_propagation": True, "propagated_box": "box"}])
def test_prefetch_gives_the_same_bytes_as_no_prefetch(stages, tmp_path, track):
    """The first 6 frames of the real clip, 3 batches of 2 (or one at a time, with box propagation: the flow into
    the next frame runs during this frame's pose): the stream and the final JSON are byte-identical for queue depths
    0 (off), 1 (the reader blocks on a full queue) and 3, each without and with the flow thread (neither setting is
    recorded)."""
    texts = {}
    for depth, flow_thread in [(0, "off"), (0, "on"), (1, "on"), (3, "on"), (3, "off")]:
        out = tmp_path / f"d{depth}{flow_thread}" / "tracks.json"
        config = FAST.with_(prefetch=depth, flow_thread=flow_thread, track=dataclasses.replace(FAST.track, **track))
        result = run_video(EXAMPLE_CLIP, out, dataclasses.replace(stages, config=config))
        assert result.frames == 6 and result.people > 6
        texts[depth, flow_thread] = [out.with_suffix(".jsonl").read_text(), out.read_text()]
        assert all('"prefetch"' not in text and "flow_thread" not in text for text in texts[depth, flow_thread])
    assert texts[0, "off"][0].count('"type":"frame"') == 6
    for key in texts:
        assert texts[key] == texts[0, "off"], key


def frames_then(exc: BaseException, n: int):
    """A stand-in for ``iter_timed_frames``: the first ``n`` frames of the clip, then ``exc``."""
    real = pipeline.iter_timed_frames

    def frames(info, max_frames=None, start=0):
        for i, frame in enumerate(real(info, max_frames, start)):
            if i == n:
                raise exc
            yield frame
    return frames


@pytest.mark.parametrize("depth,flow_thread", [(0, "off"), (2, "off"), (2, "on")])
def test_reader_error_is_raised_in_the_loop_as_without_prefetch(stages, tmp_path, monkeypatch, depth, flow_thread):
    """Decoding fails at frame 3 (in the reader thread with prefetch): the same error in the loop, after the
    same finished frames (the first batch; frame 2 waits for its batch, as without prefetch; with the flow thread
    the error met while looking ahead comes after the batch in hand is finished)."""
    monkeypatch.setattr(pipeline, "iter_timed_frames", frames_then(InputError("clip.avi: broken at frame 3"), 3))
    out = tmp_path / "t.jsonl"
    with native.JsonlStream(out, {}) as stream, pytest.raises(InputError, match="^clip.avi: broken at frame 3$"):
        track_video(probe(EXAMPLE_CLIP), with_prefetch(stages, depth, flow_thread), stream, Profile())
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["frame_index"] for d in lines if d["type"] == "frame"] == [0, 1]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stopped_loop_keeps_every_finished_frame(stages, tmp_path, stop):
    """Ctrl-C (or SIGTERM, raised as a BaseException by the CLI) after the second batch: the writer thread is
    drained, so the stream holds frames 0-3 in order, and the reader and flow threads are stopped."""
    seen = []

    def on_frames(n):
        seen.append(n)
        if len(seen) == 2:
            raise stop()

    out = tmp_path / "t.jsonl"
    with native.JsonlStream(out, {}) as stream, pytest.raises(stop):
        track_video(probe(EXAMPLE_CLIP), with_prefetch(stages, 3, "on"), stream, Profile(), on_frames)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["frame_index"] for d in lines if d["type"] == "frame"] == [0, 1, 2, 3]


def test_writer_failure_is_raised_in_the_loop(stages, tmp_path):
    class FullDisk(native.JsonlStream):
        def write(self, result):
            if self.frames == 2:
                raise OutputError(f"cannot write {self.path}: No space left on device (frames so far "
                                         "are kept)")
            super().write(result)

    out = tmp_path / "t.jsonl"
    with FullDisk(out, {}) as stream, pytest.raises(OutputError, match="No space left"):
        track_video(probe(EXAMPLE_CLIP), with_prefetch(stages, 2), stream, Profile())
    assert out.read_text().count('"type":"frame"') == 2


def test_forward_clock_measures_inside_the_run_and_detaches(stages, tmp_path):
    """The SSDLite and YOLO-crop forwards take most of a run on a CPU (~90% measured), and never more than all of
    it; the same in a second run with the same models (Ultralytics runs a private copy of the model it was given);
    nothing stays attached."""
    from torch.nn.modules import module as torch_module

    det = stages.detector.detectors[0]
    predict_before = det._predict
    timed = dataclasses.replace(stages, config=stages.config.with_(time_forwards=True))
    for name in ("first", "second"):
        result = run_video(EXAMPLE_CLIP, tmp_path / name / "t.json", timed)
        assert 0.5 * result.seconds < result.forward_seconds < result.seconds
    untimed = run_video(EXAMPLE_CLIP, tmp_path / "untimed" / "t.json", stages)  # no --profile: no hooks at all
    assert untimed.forward_seconds == 0.0
    assert det._predict == predict_before and det._predict.__self__ is det.session  # the session's own run again
    assert not torch_module._global_forward_hooks and not torch_module._global_forward_pre_hooks


def test_cli_prefetch_option_and_profile_lines(tmp_path):
    out = tmp_path / "t.json"
    result = CliRunner().invoke(main, ["run", str(EXAMPLE_CLIP), "--out", str(out), "--detectors", "ssdlite",
                                       "--pose", "yolo-crop", "-q", "--max-frames", "2", "--prefetch", "0",
                                       "--profile"])
    assert result.exit_code == 0, result.output
    assert "prefetch" not in json.loads(out.with_suffix(".jsonl").read_text().splitlines()[0])["config"]
    stages = [line.split()[0] for line in result.output.splitlines()[2:]]
    assert set(stages) >= {"decode", "detect", "pose", "nms", "track", "write", "network"}
    forward = next(line for line in result.output.splitlines() if "network forward" in line)
    shares = [float(x) for x in forward.replace("%", " ").split() if x.replace(".", "").isdigit()][:2]
    assert 0 < shares[0] < 100 and shares[0] + shares[1] == pytest.approx(100, abs=0.11)
    bad = CliRunner().invoke(main, ["run", str(EXAMPLE_CLIP), "--out", str(out), "--prefetch", "-1"])
    assert bad.exit_code == 2 and "--prefetch" in bad.output


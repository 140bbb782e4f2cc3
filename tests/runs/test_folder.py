"""Dependable folder runs: resume after SIGKILL / Ctrl-C / SIGTERM gives the files of an uninterrupted run (the
pipeline is deterministic on the CPU), ``summary.json`` and the printed table, resume validation, a full disk.

Interrupted runs go through a real subprocess (``python -c 'from posetrack_cli.cli import main; main()'``)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_video
from videogen import pattern_frames, people_video

from posetrack_cli.cli import main
from posetrack_cli.cli.run import build_config
from posetrack_cli.export import native
from posetrack_cli.pipeline import VideoResult
from posetrack_cli.runs.progress import Counted
from posetrack_cli.cli.summary import format_summary
from posetrack_cli.runs.outputs import finished_stats, output_paths

# Cheap settings: SSDLite detector, the bundled YOLO crop pose, default (DIS) optical flow; one frame per batch, so
# that a signal sent after the second frame line lands while later frames are still being processed.
FAST = ("--detectors", "ssdlite", "--pose", "yolo-crop", "-q", "--frame-batch", "1")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def spawn(*args) -> subprocess.Popen:
    code = "from posetrack_cli.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def frame_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.startswith('{"type":"frame"'))
    except OSError:
        return 0


def wait_for_frames(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while frame_lines(path) < n:
        if proc.poll() is not None:
            pytest.fail(f"run ended before {path.name} had {n} frames: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"no {n} frames in {path} after {timeout} s"
        time.sleep(0.02)


def tree(*roots: Path) -> dict[str, bytes]:
    """Every file under the roots (hidden leftovers included) -> its bytes; summary.json left out."""
    return {f"{i}/{p.relative_to(root)}": p.read_bytes() for i, root in enumerate(roots)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "summary.json"}


def statuses(out: Path) -> dict[str, str]:
    rows = json.loads((out / "summary.json").read_text())["videos"]
    return {Path(r["video"]).name: r["status"] for r in rows}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two 5-frame 320x240 clips of walking people."""
    root = tmp_path_factory.mktemp("videos")
    people_video(root / "a.avi", n=5, start=0)
    people_video(root / "b.avi", n=5, start=120)
    return root


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> dict[str, bytes]:
    """The files of one uninterrupted run, with overlays."""
    base = tmp_path_factory.mktemp("reference")
    result = invoke("run", folder, "--out", base / "out", "--render", base / "render", *FAST)
    assert result.exit_code == 0, result.output
    assert statuses(base / "out") == {"a.avi": "done", "b.avi": "done"}
    doc = json.loads((base / "out" / "b.json").read_text())
    assert doc["stats"]["people"] > 0 and len(doc["frames"]) == 5  # the clips do show people
    return tree(base / "out", base / "render")


@pytest.mark.parametrize("sig, stop_in, code", [
    (signal.SIGKILL, "a", -signal.SIGKILL),
    (signal.SIGKILL, "b", -signal.SIGKILL),
    (signal.SIGTERM, "b", 143),
])
def test_interrupted_then_resumed_equals_uninterrupted(folder, reference, tmp_path, sig, stop_in, code):
    out, render = tmp_path / "out", tmp_path / "render"
    proc = spawn("run", folder, "--out", out, "--render", render, *FAST)
    wait_for_frames(out / f"{stop_in}.jsonl", 2, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert not (out / f"{stop_in}.json").exists()
    assert frame_lines(out / f"{stop_in}.jsonl") >= 2  # finished frames are kept
    if sig != signal.SIGKILL:  # a clean stop: one line, the summary written, the current video marked
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("terminated: finished frames are kept")
        summary = json.loads((out / "summary.json").read_text())
        rows = {Path(r["video"]).name: r for r in summary["videos"]}
        assert rows["a.avi"]["status"] == "done" and rows["b.avi"]["status"] == "interrupted"
        assert rows["b.avi"]["frames"] >= 2 and summary["counts"]["interrupted"] == 1
        return  # resuming is the same as after SIGKILL: the interrupted video is redone from its first frame
    resumed = invoke("run", folder, "--out", out, "--render", render, "--resume", *FAST)
    assert resumed.exit_code == 0, resumed.output
    assert statuses(out) == {"a.avi": "skipped" if stop_in == "b" else "done", "b.avi": "done"}
    assert tree(out, render) == reference  # same files (no leftovers), byte for byte


def test_ctrl_c_keeps_the_stream_writes_the_summary_and_exits_130(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        write_video(folder / f"{name}.avi", pattern_frames(6, 64, 48))
    real_frames = Counted.on_frames

    def frames_then_ctrl_c(self, n):  # Ctrl-C arrives after the third frame of the first video
        real_frames(self, n)
        if self.done == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Counted, "on_frames", frames_then_ctrl_c)
    out = tmp_path / "out"
    result = invoke("run", folder, "--out", out, *FAST)
    assert result.exit_code == 130 and result.output.strip() == \
        "interrupted: finished frames are kept in the .jsonl stream"
    assert frame_lines(out / "a.jsonl") == 3 and not (out / "a.json").exists() and not (out / "b.jsonl").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["status"], r.get("frames")) for r in summary["videos"]] == [("interrupted", 3), ("pending", None)]
    assert "KeyboardInterrupt after 3 frames" in summary["videos"][0]["error"]


def test_resume_redoes_outputs_made_with_other_settings_or_missing(folder, tmp_path):
    out = tmp_path / "out"
    assert invoke("run", folder, "--out", out, *FAST, "--max-frames", 2).exit_code == 0
    assert statuses(out) == {"a.avi": "done", "b.avi": "done"}
    again = invoke("run", folder, "--out", out, *FAST, "--max-frames", 2, "--resume")
    assert statuses(out) == {"a.avi": "skipped", "b.avi": "skipped"}
    assert "skipped" in again.output and "finished in an earlier run" in again.output
    (out / "b.json").write_text((out / "b.json").read_text()[:-40])  # damaged after the fact
    invoke("run", folder, "--out", out, *FAST, "--max-frames", 2, "--resume")
    assert statuses(out) == {"a.avi": "skipped", "b.avi": "done"}
    invoke("run", folder, "--out", out, *FAST, "--max-frames", 3, "--resume")  # other settings: redo both
    assert statuses(out) == {"a.avi": "done", "b.avi": "done"}
    assert len(json.loads((out / "a.json").read_text())["frames"]) == 3
    invoke("run", folder, "--out", out, *FAST, "--max-frames", 3, "--resume", "--format", "native,coco")
    assert statuses(out) == {"a.avi": "done", "b.avi": "done"}  # the requested coco files were missing
    assert (out / "a.coco.json").exists()


def test_summary_json_and_printed_table(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_video(folder / "sub" / "plain.avi", pattern_frames(4, 64, 48))
    (folder / "broken.mp4").write_bytes(b"\x00" * 1000)
    out = tmp_path / "out"
    result = invoke("run", folder, "--out", out, *FAST)
    assert result.exit_code == 1
    summary = json.loads((out / "summary.json").read_text())
    rows = {Path(r["video"]).name: r for r in summary["videos"]}
    assert rows["plain.avi"]["status"] == "done" and rows["plain.avi"]["frames"] == 4
    assert rows["plain.avi"]["people"] == 0 and rows["plain.avi"]["tracks"] == 0
    assert rows["plain.avi"]["seconds"] > 0 and rows["plain.avi"]["output"] == str(out / "sub" / "plain.json")
    assert rows["broken.mp4"]["status"] == "failed" and "cannot decode" in rows["broken.mp4"]["error"]
    assert summary["counts"] == {"done": 1, "skipped": 0, "failed": 1, "interrupted": 0, "pending": 0}
    assert summary["totals"]["frames"] == 4
    lines = result.output.splitlines()
    assert lines[0].split() == ["status", "frames", "people", "tracks", "seconds", "fps", "video"]
    assert lines[1].split()[:2] == ["failed", "0"] and "cannot decode" in lines[2]
    assert lines[3].split()[:5] == ["done", "4", "0", "0", lines[3].split()[4]]
    assert lines[-1].startswith("total") and "1 done, 1 failed" in lines[-1]


def test_format_summary_table():
    rows = [VideoResult("a.mp4", "o/a.json", "done", 10, 20, 3, 2.0),
            VideoResult("b.mp4", "o/b.json", "skipped", 5, 4, 1, warning="finished in an earlier run"),
            VideoResult("c.mp4", "o/c.json", "failed", error="c.mp4: empty file")]
    lines = format_summary(rows)
    assert lines[1].split() == ["done", "10", "20", "3", "2.0", "5.00", "a.mp4", "->", "o/a.json"]
    assert lines[2].split() == ["skipped", "5", "4", "1", "0.0", "-", "b.mp4"]
    assert lines[3].strip() == "finished in an earlier run"
    assert lines[5].strip() == "c.mp4: empty file"
    assert lines[6].split()[:5] == ["total", "15", "24", "4", "2.0"]
    assert lines[6].endswith("3 videos: 1 done, 1 skipped, 1 failed")
    assert len(format_summary(rows[:1])) == 2  # no totals for one video


def test_output_paths_mirror_the_tree_and_keep_clashing_suffixes(tmp_path):
    videos = [tmp_path / "x.mp4", tmp_path / "x.avi", tmp_path / "s" / "y.mkv"]
    assert output_paths(videos, tmp_path, Path("o")) == [Path("o/x.mp4.json"), Path("o/x.avi.json"),
                                                        Path("o/s/y.json")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("finished")
    video = write_video(base / "v.avi", pattern_frames(3, 64, 48))
    assert invoke("run", video, "--out", base / "v.json", *FAST).exit_code == 0
    return base / "v.json"


def run_options(*extra) -> dict:
    cmd = main.get_command(None, "run")
    ctx = cmd.make_context("run", ["x", "--out", "y", *FAST, *extra])
    return {k: v for k, v in ctx.params.items() if k not in ("source", "out", "render", "resume", "profile", "quiet")}


def test_finished_stats_checks_completeness_layout_and_settings(finished, tmp_path):
    config = build_config(run_options())
    stats = finished_stats(finished, config)
    assert stats is not None and stats["frames"] == 3 and stats["complete"] is True
    assert finished_stats(finished, build_config(run_options("--max-frames", 2))) is None  # other settings
    assert finished_stats(finished, config, ["ssdlite"]) == stats  # the box source it was made with
    assert finished_stats(finished, config, ["supplied:boxes.json"]) is None  # other boxes (--boxes)
    assert finished_stats(finished, build_config(run_options("--fps", 10))) is None  # other sequence frame rate
    assert finished_stats(finished, build_config(run_options("--prefetch", 0))) == stats  # speed only
    text = finished.read_text()
    cases = {
        "cut.json": text[: len(text) // 2],  # a copy stopped half way
        "nostats.json": text.replace('"complete":true', '"complete":false'),  # rebuilt from a killed stream
        "lost_frame.json": "\n".join(line for i, line in enumerate(text.split("\n")) if i != 2),
        "schema.json": text.replace(native.SCHEMA, "other/1"),
        "empty.json": "",
    }
    for name, body in cases.items():
        (tmp_path / name).write_text(body)
        assert finished_stats(tmp_path / name, config) is None, name
    (tmp_path / "pretty.json").write_text(json.dumps(json.loads(text), indent=2))  # any other JSON layout
    assert finished_stats(tmp_path / "pretty.json", config) == stats
    assert finished_stats(tmp_path / "missing.json", config) is None


class FullDisk:
    """A text file whose disk fills up after ``lines`` writes."""

    def __init__(self, fh, lines: int) -> None:
        self.fh, self.lines = fh, lines

    def write(self, text: str) -> int:
        if self.lines == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.lines -= 1
        return self.fh.write(text)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_disk_full_in_a_batch_stops_with_one_line_and_keeps_earlier_outputs(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_video(folder / f"{name}.avi", pattern_frames(4, 64, 48))
    out = tmp_path / "out"
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        writing_b = Path(path).name == "b.jsonl" and "w" in mode
        return FullDisk(fh, lines=3) if writing_b else fh  # the header and two frames fit

    monkeypatch.setattr(native, "open", fake_open, raising=False)
    result = invoke("run", folder, "--out", out, *FAST)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 4 and len(lines) == 1, result.output
    assert "b.jsonl" in lines[0] and os.strerror(errno.ENOSPC) in lines[0] and "Traceback" not in result.output
    assert finished_stats(out / "a.json")["frames"] == 4  # the earlier video is intact
    assert frame_lines(out / "b.jsonl") == 2 and not (out / "b.json").exists()  # what fitted is kept
    assert not (out / "c.jsonl").exists()  # the batch stopped
    rows = {Path(r["video"]).name: r for r in json.loads((out / "summary.json").read_text())["videos"]}
    assert [rows[n]["status"] for n in ("a.avi", "b.avi", "c.avi")] == ["done", "failed", "pending"]
    assert os.strerror(errno.ENOSPC) in rows["b.avi"]["error"]


def test_disk_full_at_the_final_json_replaces_nothing(tmp_path, monkeypatch):
    video = write_video(tmp_path / "v.avi", pattern_frames(3, 64, 48))
    out = tmp_path / "out" / "v.json"
    assert invoke("run", video, "--out", out, *FAST).exit_code == 0
    before = out.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    result = invoke("run", video, "--out", out, *FAST, "--max-frames", 2)
    assert result.exit_code == 4 and len(result.output.strip().splitlines()) == 1, result.output
    assert "No space left on device (nothing was replaced)" in result.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.json", "v.jsonl"]  # no temporary files
    assert frame_lines(out.with_suffix(".jsonl")) == 2  # the new stream is complete and kept

"""Folder runs on Ray (``--ray``): the same files and summary as the local run, a worker killed mid-video is
retried (and an item whose worker keeps dying is reported), resume skips finished videos, a chunked video keeps its
tracks. One local Ray instance for the module, bound to 127.0.0.1 (pytest-socket allows that host only), no
dashboard, shut down at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from videogen import people_video

from posetrack_cli.cli import main
from posetrack_cli.cli.run import build_config, run_cmd
from posetrack_cli.runs.folder import _find_inputs, output_paths

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

# The cheap settings of test_batch.py (SSDLite, the bundled YOLO crop pose), one frame per batch so that a worker
# reports progress after every frame.
FAST = ("--detectors", "ssdlite", "--pose", "yolo-crop", "-q", "--frame-batch", "1")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden leftovers included) -> bytes; summary.json left out."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "summary.json"}


# Ray workers reserve one CPU each, so their torch and ONNX Runtime use 1 thread where the local run uses 2 (the
# ``local`` fixture sets 2, so this holds on any machine). Float sums then run in another order (measured: at most
# 1e-4 px over the three clips), and a coordinate near a rounding boundary can then differ by one unit in its last
# written digit: keypoints are written with 2 decimals, and 78.85 against 78.84 was seen on a 60-frame clip. People,
# ids, boxes and every other field stay equal; numbers are compared within one such unit.
FLOAT_TOLERANCE = 0.0101


def same_json(a, b, where: str = "") -> list[str]:
    """Where two parsed JSON values differ: structure, strings and integers exactly, floats within the tolerance."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in same_json(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same_json(x, y, f"{where}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= FLOAT_TOLERANCE
        return [] if ok else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


def assert_same_outputs(got: dict[str, bytes], expected: dict[str, bytes]) -> None:
    """The same files; each byte-identical or, for JSON / JSON Lines, equal up to ``FLOAT_TOLERANCE``."""
    assert sorted(got) == sorted(expected)
    for name, data in got.items():
        if data == expected[name]:
            continue
        assert name.endswith((".json", ".jsonl")), f"{name} differs"
        if name.endswith(".jsonl"):
            got_lines, expected_lines = data.splitlines(), expected[name].splitlines()
            assert len(got_lines) == len(expected_lines), name
            differences = [d for i, (x, y) in enumerate(zip(got_lines, expected_lines))
                           for d in same_json(json.loads(x), json.loads(y), f"{name}:{i + 1}")]
        else:
            differences = same_json(json.loads(data), json.loads(expected[name]), name)
        assert differences == [], differences[:5]


def test_the_comparison_tolerates_float_noise_only():
    base = {"t.json": b'{"people":[{"track_id":3,"keypoints":[[1.2345,2.0,0.9]]}]}'}
    noisy = {"t.json": b'{"people":[{"track_id":3,"keypoints":[[1.2346,2.0,0.9]]}]}'}
    assert_same_outputs(noisy, base)
    for bad in (b'{"people":[{"track_id":4,"keypoints":[[1.2345,2.0,0.9]]}]}',
                b'{"people":[{"track_id":3,"keypoints":[[1.3345,2.0,0.9]]}]}',
                b'{"people":[]}'):
        with pytest.raises(AssertionError):
            assert_same_outputs({"t.json": bad}, base)


def summary(out: Path) -> dict:
    """summary.json without the timings, outputs relative to ``out``."""
    doc = json.loads((out / "summary.json").read_text())
    for row in doc["videos"]:
        row["output"] = str(Path(row["output"]).relative_to(out))
        for key in ("seconds", "profile", "forward_seconds"):
            row.pop(key, None)
    doc["totals"].pop("seconds")
    return doc


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=100 * 1024 * 1024, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Three short 320x240 clips of walking people, one in a sub-folder; b is the longest (6 frames)."""
    root = tmp_path_factory.mktemp("videos")
    people_video(root / "a.avi", n=3, start=0)
    people_video(root / "b.avi", n=6, start=120)
    (root / "sub").mkdir()
    people_video(root / "sub" / "c.avi", n=3, start=300)
    return root


@pytest.fixture(scope="module")
def local(folder, tmp_path_factory) -> Path:
    """The output folder of a run without Ray."""
    out = tmp_path_factory.mktemp("local") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the workers run 1 thread each: the mismatch of thread counts on every machine
    try:
        result = invoke("run", folder, "--out", out, *FAST)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "b.json").read_text())["stats"]["tracks"] >= 2  # the clips do show people
    return out


@pytest.fixture(scope="module")
def on_ray(ray_instance, folder, local, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray") / "out"
    result = invoke("run", folder, "--out", out, "--ray", "auto", "--ray-workers", 2, *FAST)
    assert result.exit_code == 0, result.output
    return out


def test_ray_run_writes_the_files_and_summary_of_the_local_run(local, on_ray):
    assert_same_outputs(tree(on_ray), tree(local))  # no leftovers either
    assert summary(on_ray) == summary(local)
    assert summary(on_ray)["counts"]["done"] == 3


def test_resume_on_ray_skips_finished_videos(folder, local, on_ray, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(on_ray, out)  # copy2: modification times kept
    (out / "sub" / "c.json").unlink()
    before = {name: (out / name).stat().st_mtime_ns for name in ("a.json", "b.json", "b.jsonl")}
    result = invoke("run", folder, "--out", out, "--ray", "auto", "--resume", *FAST)
    assert result.exit_code == 0, result.output
    assert {name: (out / name).stat().st_mtime_ns for name in before} == before  # untouched
    rows = {Path(r["video"]).name: r["status"] for r in summary(out)["videos"]}
    assert rows == {"a.avi": "skipped", "b.avi": "skipped", "c.avi": "done"}
    assert_same_outputs(tree(out), tree(local))


@pytest.fixture(scope="module")
def long_folder(folder, tmp_path_factory) -> tuple[Path, Path]:
    """The folder with b and c 60 frames long, and the output folder of a local run of it. A worker is killed at
    its first progress report, which the driver sees up to a poll later: a 3-frame clip can be finished by then
    (seen once under load), a 60-frame one cannot."""
    root = tmp_path_factory.mktemp("long_videos")
    shutil.copy(folder / "a.avi", root / "a.avi")
    people_video(root / "b.avi", n=60, start=120)
    (root / "sub").mkdir()
    people_video(root / "sub" / "c.avi", n=60, start=300)
    out = tmp_path_factory.mktemp("long_local") / "out"
    result = invoke("run", root, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    return root, out


def test_killed_worker_is_retried_and_a_worker_dying_every_time_is_reported(ray_instance, long_folder, tmp_path,
                                                                            caplog):
    from posetrack_cli.runs.progress import Silent
    from posetrack_cli.runs.ray_config import RayConfig
    from posetrack_cli.runs.ray_executor import run_on_ray

    folder, local = long_folder
    config = build_config_for(FAST)
    videos, rows = _find_inputs(folder)
    out = tmp_path / "out"
    outputs = output_paths(videos, folder, out)
    kills: dict[str, int] = {}
    killed: set[int] = set()

    def kill(video: str, frames: int, pid: int) -> None:
        """SIGKILL the worker at its first report: b's once, c's every time."""
        name = Path(video).name
        if pid not in killed and ((name == "b.avi" and not kills.get(name)) or name == "c.avi"):
            killed.add(pid)
            kills[name] = kills.get(name, 0) + 1
            os.kill(pid, signal.SIGKILL)

    results = run_on_ray(videos, outputs, rows, out, config, None, False, Silent(),
                         RayConfig(workers=2, retries=1), on_progress=kill)
    status = {Path(r.video).name: r for r in results}
    assert status["a.avi"].status == status["b.avi"].status == "done"
    assert kills == {"b.avi": 1, "c.avi": 2}  # c: the first run and its one retry
    assert status["c.avi"].status == "failed"
    assert "worker process died 2 times" in status["c.avi"].error
    assert any("retrying" in r.message for r in caplog.records)
    files, expected = tree(out), tree(local)
    assert_same_outputs({k: files[k] for k in ("a.json", "a.jsonl", "b.json", "b.jsonl")},
                        {k: expected[k] for k in ("a.json", "a.jsonl", "b.json", "b.jsonl")})
    assert json.loads((out / "summary.json").read_text())["counts"] == \
        {"done": 2, "skipped": 0, "failed": 1, "interrupted": 0, "pending": 0}


def test_ctrl_c_in_the_driver_writes_the_summary_and_raises(ray_instance, folder, tmp_path):
    from posetrack_cli.runs.progress import Silent
    from posetrack_cli.runs.ray_config import RayConfig
    from posetrack_cli.runs.ray_executor import run_on_ray

    videos, rows = _find_inputs(folder)
    out = tmp_path / "out"

    def interrupt(video: str, frames: int, pid: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_on_ray(videos, output_paths(videos, folder, out), rows, out, build_config_for(FAST), None, False,
                   Silent(), RayConfig(workers=2), on_progress=interrupt)
    rows = {Path(r["video"]).name: r for r in json.loads((out / "summary.json").read_text())["videos"]}
    assert {name: r["status"] for name, r in rows.items()} == \
        {"a.avi": "interrupted", "b.avi": "interrupted", "c.avi": "pending"}  # two workers: a and b were running
    assert rows["a.avi"]["video"] == str(folder / "a.avi")  # paths as given
    assert sum(r["frames"] for r in rows.values() if "frames" in r) >= 1


def test_chunked_video_on_ray_keeps_the_tracks_of_the_whole_run(ray_instance, folder, local, tmp_path):
    only_b = tmp_path / "in"
    only_b.mkdir()
    shutil.copy(folder / "b.avi", only_b / "b.avi")  # MJPG: every frame is a keyframe
    out = tmp_path / "out"
    result = invoke("run", only_b, "--out", out, "--ray", "auto", "--chunk-frames", 3, *FAST)
    assert result.exit_code == 0, result.output
    whole = json.loads((local / "b.json").read_text())
    chunked = json.loads((out / "b.json").read_text())
    assert len(chunked["frames"]) == len(whole["frames"]) == 6
    assert chunked["stats"]["complete"] and chunked["stats"]["tracks"] == whole["stats"]["tracks"]
    assert [len(f["people"]) for f in chunked["frames"]] == [len(f["people"]) for f in whole["frames"]]
    pairs = set()  # (whole-run id, chunked id) of the same person: the same box in the same frame
    for fw, fc in zip(whole["frames"], chunked["frames"]):
        ids = {tuple(p["box_xyxy"]): p["track_id"] for p in fc["people"]}
        pairs |= {(p["track_id"], ids[tuple(p["box_xyxy"])]) for p in fw["people"]}
    assert len({w for w, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)  # one id each, across the border
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # chunk streams deleted after the join


def test_supplied_boxes_on_ray_give_the_files_of_the_local_run(ray_instance, folder, local, tmp_path):
    """--boxes with --ray: every worker gets the same boxes (no detector loaded); the outputs are byte for byte
    those of the local run with the same boxes, and --resume recognises them as made from those boxes."""
    frames = []  # the boxes of the people the detector run found, as one per-frame file for the whole folder
    for out_json in sorted(local.rglob("*.json")):
        if out_json.name == "summary.json" or out_json.name.count(".") > 1:
            continue
        for frame in json.loads(out_json.read_text())["frames"]:
            frames.append({"video": out_json.stem, "frame": frame["frame_index"],
                           "boxes": [[*p["box_xyxy"], p["box_score"]] for p in frame["people"]]})
    assert sum(len(f["boxes"]) for f in frames) >= 6
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"frames": frames}))
    args = ("--boxes", boxes, "--pose", "yolo-crop", "-q", "--frame-batch", "1")
    result = invoke("run", folder, "--out", tmp_path / "local", *args)
    assert result.exit_code == 0, result.output
    result = invoke("run", folder, "--out", tmp_path / "ray", "--ray", "auto", "--ray-workers", 2, *args)
    assert result.exit_code == 0, result.output
    assert_same_outputs(tree(tmp_path / "ray"), tree(tmp_path / "local"))
    b = json.loads((tmp_path / "ray" / "b.json").read_text())
    assert b["models"]["detectors"] == ["supplied:boxes.json"]
    given = {f["frame"]: f["boxes"] for f in frames if f["video"] == "b"}
    for frame in b["frames"]:  # every output box is a supplied one
        for person in frame["people"]:
            assert any(max(abs(x - y) for x, y in zip(person["box_xyxy"], box[:4])) < 0.01
                       for box in given[frame["frame_index"]])
    before = (tmp_path / "ray" / "b.json").stat().st_mtime_ns
    result = invoke("run", folder, "--out", tmp_path / "ray", "--ray", "auto", "--resume", *args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ray" / "b.json").stat().st_mtime_ns == before
    assert {r["status"] for r in summary(tmp_path / "ray")["videos"]} == {"skipped"}


def test_without_ray_installed_one_line_error(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = invoke("run", folder, "--out", tmp_path / "out", "--ray", "auto", *FAST)
    assert result.exit_code == 1
    assert result.output.strip() == "error: --ray needs Ray: pip install 'posetrack-cli[ray]'"
    assert not (tmp_path / "out").exists()


def test_ray_with_one_video_is_an_input_error(folder, tmp_path):
    pytest.importorskip("ray")
    result = invoke("run", folder / "a.avi", "--out", tmp_path / "a.json", "--ray", "auto", *FAST)
    assert result.exit_code == 2
    assert "--ray runs a folder of videos" in result.output


def build_config_for(args: tuple[str, ...]):
    """The PipelineConfig the CLI builds from these options (the other options at their defaults)."""
    ctx = run_cmd.make_context("run", ["x", "--out", "y", *args])
    opts = dict(ctx.params)
    for name in ("source", "out", "render", "resume", "profile", "quiet"):
        opts.pop(name)
    from posetrack_cli.cli.run import ray_config_from

    ray_config_from(opts)
    return build_config(opts)


def test_unreachable_ray_address_fails_fast():
    import socket

    from posetrack_cli.runs.ray_executor import _check_reachable

    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"nothing answers at 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}", timeout_s=2)

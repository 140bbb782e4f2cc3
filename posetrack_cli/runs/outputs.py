"""Where a run's files go, whether an earlier run already finished them (``--resume``), and ``summary.json``.

Resume (``--resume``) skips a video only when its ``tracks.json`` is complete, parses, was made with the same
configuration, and every other requested output (extra formats, overlay) exists; anything else is redone from the
first frame. The pipeline is deterministic on the CPU, so a run killed at any point and resumed ends with the same
files as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import tempfile
from dataclasses import asdict
from pathlib import Path

from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import OutputError
from posetrack_cli.export import FORMATS
from posetrack_cli.export.native import SCHEMA
from posetrack_cli.io.files import write_json
from posetrack_cli.io.video import sink_leftovers
from posetrack_cli.pipeline import VideoResult, result_config
from posetrack_cli.runs.policy import STATUSES

log = logging.getLogger(__name__)


def check_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it, or raise a one-line ``OutputError`` (before any model is loaded)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}; choose a writable output path") \
            from None


def single_output_path(video: Path, out: Path) -> Path:
    """``out``, or ``out/<video stem>.json`` when ``out`` is a folder (a sequence folder's whole name)."""
    return out / f"{video.name if video.is_dir() else video.stem}.json" if out.is_dir() else out


def output_paths(videos: list[Path], root: Path, out_dir: Path) -> list[Path]:
    """One JSON per video or sequence folder, mirroring the folder tree. A sequence folder keeps its whole name
    (``root`` itself: its own name); videos sharing a stem with another video or a sequence folder in one folder
    keep their suffix (``x.mp4.json`` beside ``x.avi.json`` or the sequence's ``x.json``)."""
    rels = [v.relative_to(root) if v != root else Path(root.resolve().name) for v in videos]
    keys = [rel if v.is_dir() else rel.with_suffix("") for v, rel in zip(videos, rels)]
    paths = []
    for v, rel, key in zip(videos, rels, keys):
        name = rel.name if v.is_dir() or keys.count(key) > 1 else rel.stem
        paths.append(out_dir / rel.parent / f"{name}.json")
    return paths


def extra_outputs(out_json: Path, config: PipelineConfig) -> list[Path]:
    """The files of the non-native formats written beside ``out_json``."""
    return [out_json.with_name(out_json.stem + FORMATS[name][1]) for name in config.output.formats
            if name != "native"]


def render_path(out_json: Path, out_dir: Path, render_dir: Path | None) -> Path | None:
    """The overlay of ``out_json`` under ``render_dir``, mirroring the output tree."""
    return None if render_dir is None else render_dir / out_json.relative_to(out_dir).with_suffix(".mp4")


def finished_stats(path: Path, config: PipelineConfig | None = None,
                   detectors: list[str] | None = None) -> dict | None:
    """The ``stats`` of ``path`` when it is a complete posetrack tracks.json (made with ``config`` and the box
    source ``detectors``, e.g. ``["supplied:boxes.json"]``, when given) whose every frame parses; None otherwise.
    Reads line by line: memory stays O(one frame) however long the video."""
    try:
        with open(path, encoding="utf-8") as fh:
            head, frames, tail = _read_tracks_lines(fh)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    stats = tail.get("stats") if isinstance(tail, dict) else None
    if not isinstance(head, dict) or head.get("schema") != SCHEMA or not isinstance(stats, dict):
        return None
    if stats.get("complete") is not True or stats.get("frames") != frames:
        return None
    if config is not None and head.get("config") != json.loads(json.dumps(result_config(config))):
        log.info("%s was made with other settings; redoing it", path)
        return None
    if config is not None and head.get("refine") != _refine_record(config):
        log.info("%s was refined with other settings; redoing it", path)
        return None
    if detectors is not None and (head.get("models") or {}).get("detectors") != detectors:
        log.info("%s was made from other boxes (%s); redoing it", path, (head.get("models") or {}).get("detectors"))
        return None
    return stats


def _refine_record(config: PipelineConfig) -> dict | None:
    """The ``refine`` a tracks.json made with ``config`` records (pipeline.refine_stream), None unrefined."""
    return json.loads(json.dumps(asdict(config.refine))) if config.refine.enabled else None


_FRAMES_OPEN = ',"frames":[\n'


def _read_tracks_lines(fh) -> tuple[dict, int, dict]:
    """(header, frame count, tail) of a tracks.json in the one-frame-per-line layout of ``native.write_tracks_json``
    (any other layout is parsed whole)."""
    first = fh.readline()
    if not first.endswith(_FRAMES_OPEN):
        fh.seek(0)
        doc = json.load(fh)
        return doc, len(doc.get("frames", [])), doc
    head, frames = json.loads(first[:-len(_FRAMES_OPEN)] + "}"), 0
    for line in fh:
        if line.startswith("],"):
            tail = json.loads("{" + line[2:])
            if fh.read().strip():
                raise ValueError("data after the end")
            return head, frames, tail
        json.loads(line.rstrip("\n").removesuffix(","))
        frames += 1
    raise ValueError("file ends inside the frames")


def remove_leftovers(targets: list[Path], overlay: Path | None) -> None:
    """Delete temporary files a killed run left beside these outputs (atomic_write and VideoSink names)."""
    leftovers = [p for t in targets for p in t.parent.glob(f".{glob.escape(t.name)}.*.tmp")]
    leftovers += sink_leftovers(overlay) if overlay is not None else []
    for path in leftovers:
        with contextlib.suppress(OSError):
            path.unlink()
            log.info("removed %s, left by an interrupted run", path)


def skip_or_clean(video: Path, out_json: Path, config: PipelineConfig, render: Path | None, resume: bool,
                  detectors: list[str] | None = None) -> VideoResult | None:
    """The "skipped" row of a video finished in an earlier run (with ``resume``: same settings, same box source
    ``detectors`` as ``Stages.models`` records them, default the configured detectors); otherwise None, after
    deleting what a killed run left beside its outputs. Shared by the local loop and the Ray driver."""
    extras = extra_outputs(out_json, config)
    if resume:
        stats = finished_stats(out_json, config, list(config.detect.detectors) if detectors is None else detectors)
        if stats is not None and all(p.exists() for p in extras) and (render is None or render.exists()):
            return VideoResult(str(video), str(out_json), "skipped", stats.get("frames", 0), stats.get("people", 0),
                               stats.get("tracks", 0), warning="finished in an earlier run")
    remove_leftovers([out_json, *extras], render)
    return None


def write_summary(path: Path, results: list[VideoResult], videos: list[Path]) -> None:
    """Per-video status (done, skipped, failed + reason, interrupted, or pending when the run stopped first)."""
    seen = {r.video for r in results}
    rows = [asdict(r) for r in results] + [{"video": str(v), "status": "pending"} for v in videos
                                           if str(v) not in seen]
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
    totals = {k: sum(r.get(k, 0) for r in rows) for k in ("frames", "people", "seconds")}
    write_json(path, {"videos": rows, "counts": counts, "totals": totals}, indent=1, newline=True)

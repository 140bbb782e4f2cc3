"""The page: one HTML file with its CSS, script and data inline, so it opens from ``file://`` with no network.

The small data (tracks, flags, per-frame series, the run's facts) is one JSON script element parsed at load; the
poses are one base64 text element per chunk of frames, decoded by the page only when that chunk is shown."""

from __future__ import annotations

import html
import importlib.metadata
import json
import os
import platform
import re
from importlib import resources

import numpy as np

from posetrack_cli import __version__
from posetrack_cli.io.cpuinfo import read_cpuinfo
from posetrack_cli.report.analysis import TrackSummary, mean_score_per_frame
from posetrack_cli.report.data import RunData
from posetrack_cli.report.pack import CHUNK_FRAMES, COORD_SCALE, SCORE_SCALE, Column, pack_columns, quantise

# Track colours: id -> PALETTE[(id - 1) % len(PALETTE)]; bright on video, told apart by hue.
PALETTE = ("#ff4d4d", "#4da6ff", "#52d94f", "#ffb020", "#c76bff", "#1fd6c6", "#ff6fb5", "#c8e04a", "#ff8a3d",
           "#7f8cff", "#3ddc97", "#e0c24a")
TIME_SCALE = 10_000  # frame times are stored in 0.1 ms steps
VERSIONED = ("numpy", "opencv-python", "torch", "torchvision", "ultralytics", "onnxruntime")


def static_text(name: str) -> str:
    """A file of the page's script, style or markup, shipped in the package."""
    return resources.files("posetrack_cli.report").joinpath("static", name).read_text(encoding="utf-8")


def frame_columns(run: RunData) -> dict:
    """Per-frame series for the plots and the time -> frame lookup, packed."""
    return pack_columns([Column("index", run.frame_index), Column("time", quantise(run.time_s, TIME_SCALE),
                                                                  TIME_SCALE),
                         Column("count", run.people_per_frame),
                         Column("score", quantise(mean_score_per_frame(run), SCORE_SCALE), SCORE_SCALE)])


def chunk_columns(run: RunData, first: int, stop: int) -> dict:
    """The people of frame rows [first, stop), sorted by track then frame (small deltas), packed."""
    a, b = np.searchsorted(run.person_frame, [first, stop])
    rows = np.arange(a, b)[track_order_slice(run, a, b)]
    k = run.skeleton.num_keypoints
    return pack_columns([
        Column("frame", run.person_frame[rows] - first), Column("track", run.track_id[rows]),
        Column("box", quantise(run.boxes_xyxy[rows], COORD_SCALE), COORD_SCALE),
        Column("score", quantise(run.score[rows], SCORE_SCALE), SCORE_SCALE),
        Column("xy", quantise(run.keypoints[rows, :, :2], COORD_SCALE).reshape(len(rows), k, 2), COORD_SCALE),
        Column("kscore", quantise(run.keypoints[rows, :, 2], SCORE_SCALE), SCORE_SCALE)])


def track_order_slice(run: RunData, a: int, b: int) -> np.ndarray:
    """``track_order`` of the person rows [a, b), as positions within the slice."""
    return np.lexsort((run.person_frame[a:b], run.track_id[a:b]))


def chunks(run: RunData) -> list[dict]:
    return [chunk_columns(run, first, min(first + CHUNK_FRAMES, len(run.frame_index)))
            for first in range(0, max(len(run.frame_index), 1), CHUNK_FRAMES)]


def track_rows(tracks: list[TrackSummary], pictures: dict[int, str]) -> list[dict]:
    return [{"id": t.track_id, "first": t.first, "last": t.last, "n": t.length,
             "segs": [v for seg in t.segments for v in seg], "score": round(t.mean_score, 3),
             "crop": pictures.get(t.track_id, "")} for t in tracks]


def machine() -> dict:
    """Versions and the machine that wrote the page (with ``run --report``, the run's machine)."""
    versions = {"posetrack": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {"versions": versions, "machine": {"system": f"{platform.system()} {platform.release()}",
                                              "cpu": read_cpuinfo()[0], "cores": os.cpu_count() or 0,
                                              "memory_gb": round(memory / 2**30, 1)}}


def page_data(run: RunData, title: str, video: dict, tracks: list[dict], flags: list[dict],
              timings: dict | None) -> dict:
    """Everything the page's script reads at load, except the pose chunks."""
    return {"title": title, "video": {**run.video, **video}, "models": run.models, "config": run.config,
            "stats": run.stats, "skeleton": {"names": list(run.skeleton.keypoints),
                                             "links": [list(link) for link in run.skeleton.links]},
            "palette": list(PALETTE), "chunkFrames": CHUNK_FRAMES, "frames": frame_columns(run),
            "tracks": tracks, "flags": flags, "timings": timings or {}, "run": machine()}


def _script_json(obj) -> str:
    """JSON safe inside a <script> element (no "</" can close it)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{{NAME}}`` replaced in one pass (a value that contains a placeholder stays as is)."""
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values.get(m[1], m[0]), template)


def render_page(data: dict, packed_chunks: list[dict]) -> str:
    """The whole HTML document."""
    chunk_tags = "\n".join(f'<script type="application/json" id="chunk-{i}">{_script_json(c)}</script>'
                           for i, c in enumerate(packed_chunks))
    return fill(static_text("page.html"), {"TITLE": html.escape(data["title"]), "CSS": static_text("report.css"),
                                           "DATA": _script_json(data), "CHUNKS": chunk_tags,
                                           "JS": static_text("report.js")})

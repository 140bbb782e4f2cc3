"""Write the report of one run: read its tracks.json, find or make a video the browser plays, cut the contact
sheet, and write the page atomically. The proxy encode (a separate ffmpeg process) runs while the crops are cut."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from posetrack_cli.errors import InputError, OutputError, one_line
from posetrack_cli.io.ffmpeg import MediaError
from posetrack_cli.io.files import atomic_write
from posetrack_cli.report.analysis import flags, summarise_tracks
from posetrack_cli.report.data import RunData, load_tracks
from posetrack_cli.report.media import browser_plays, crops, pick_crops, proxy_for, sequence_proxy
from posetrack_cli.report.page import chunks, page_data, render_page, track_rows


@dataclass(frozen=True)
class ReportResult:
    """What was written: the page, its size, the video it plays (relative to the page) and how long it took."""

    path: Path
    bytes: int
    seconds: float
    video_src: str  # "" when the page plays no video
    note: str  # why there is no video, or that a proxy was made


def resolve_video(run: RunData, tracks_json: Path, video: Path | None) -> Path:
    """The video (or image folder) of the run: ``video`` when given, else the path the run recorded (as given to
    ``run``: relative to where it ran, else to the tracks.json's folder). A one-line error when it is missing."""
    if video is not None:
        if not video.exists():
            raise InputError(f"--video {video}: no such file or folder; check the path")
        return video
    recorded = Path(str(run.video.get("path", "")))
    for candidate in (recorded, tracks_json.parent / recorded):
        if str(recorded) and candidate.exists():
            return candidate
    raise InputError(f"{tracks_json}: its video {recorded} is not there; pass --video PATH (or --no-video)")


def _playable(source: Path, out_html: Path, run: RunData, data_file: Path) -> tuple[Path | None, str]:
    """The file the page should play and a note: the source itself, or a proxy beside the page (of the part of the
    video the run tracked, and a second more)."""
    if run.video.get("kind") == "frames":
        proxy = sequence_proxy(run, source, out_html.with_suffix(".proxy.mp4"), data_file)
        return proxy, f"an H.264 video of the image sequence {source.name}"
    if browser_plays(source):
        return source, ""
    seconds = float(run.time_s[-1]) + 1.0 if len(run.time_s) else None
    proxy = proxy_for(source, out_html.with_suffix(".proxy.mp4"), seconds, data_file)
    return proxy, f"an H.264 copy: browsers cannot play {source.name}"


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror or exc}; choose a writable output path") from None


def write_report(tracks_json: Path, out_html: Path, video: Path | None = None, with_video: bool = True,
                 timings: dict | None = None, title: str | None = None) -> ReportResult:
    """The report page of ``tracks_json`` at ``out_html``. ``timings``: the run's ``{"seconds", "profile"}`` (stage
    timings; a run passes its own, ``posetrack report`` finds them in a folder run's summary.json)."""
    start = time.perf_counter()
    tracks_json, out_html = Path(tracks_json), Path(out_html)
    run = load_tracks(tracks_json)
    source = resolve_video(run, tracks_json, video) if with_video else None
    result = write_page(run, out_html, source, timings, title, tracks_json)
    return replace(result, seconds=time.perf_counter() - start)


def write_page(run: RunData, out_html: Path, source: Path | None = None, timings: dict | None = None,
               title: str | None = None, data_file: Path | None = None) -> ReportResult:
    """The page of a run already in memory (``source``: its video, None for a page without one; ``data_file``:
    the file the run was read from, whose age decides whether an earlier proxy still fits)."""
    start = time.perf_counter()
    out_html = Path(out_html)
    summaries = summarise_tracks(run)
    _make_folder(out_html.parent)
    with ThreadPoolExecutor(1) as pool:
        playing = pool.submit(_playable, source, out_html, run, data_file or source) if source else None
        pictures = crops(run, source, pick_crops(summaries))
        try:
            target, note = playing.result() if playing else (None, "")
        except MediaError as exc:
            target, note = None, f"no browser-playable copy of {source.name} ({one_line(exc, with_type=False)})"
    src = Path(os.path.relpath(target.resolve(), out_html.resolve().parent)).as_posix() if target else ""
    data = page_data(run, title or Path(str(run.video.get("path", out_html.stem))).name,
                     {"src": src, "note": note}, track_rows(summaries, pictures), flags(run, summaries), timings)
    text = render_page(data, chunks(run))
    with atomic_write(out_html) as fh:
        fh.write(text)
    return ReportResult(out_html, len(text.encode("utf-8")), time.perf_counter() - start, src, note)

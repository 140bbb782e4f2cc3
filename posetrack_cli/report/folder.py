"""The report of a folder run: one page per finished video (mirroring the output tree) and an index page with the
summary table, each row linking to its video's page. A video whose page cannot be made keeps its row, with why."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from posetrack_cli.errors import InputError, PosetrackError
from posetrack_cli.io.files import atomic_write, read_json
from posetrack_cli.report.page import fill, static_text
from posetrack_cli.report.writer import ReportResult, write_report

PAGE_STATUSES = ("done", "skipped")  # rows whose tracks.json is finished


@dataclass
class FolderReport:
    index: Path | None  # the index page (None: the report of one video)
    pages: list[ReportResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "video: why it has no page"


def read_summary(results_dir: Path) -> dict:
    """A folder run's summary.json; one line when the folder is not a folder run's output."""
    summary = results_dir / "summary.json"
    if not results_dir.is_dir():
        raise InputError(f"{results_dir}: no such folder; give a tracks.json or a folder run's --out folder")
    if not summary.is_file():
        raise InputError(f"{results_dir}: no summary.json in it; give a folder written by posetrack run FOLDER "
                         "--out DIR, or one tracks.json")
    doc = read_json(summary, "summary.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("videos"), list):
        raise InputError(f"{summary}: not a posetrack summary.json (no videos list)")
    return doc


def _existing(path: str, results_dir: Path) -> Path | None:
    """A path the run recorded, as given (relative to where it ran) or found below ``results_dir``."""
    given = Path(path)
    for candidate in (given, results_dir / given.name, results_dir.parent / given):
        if path and candidate.exists():
            return candidate
    return None


def _page_path(output: Path, results_dir: Path, out_dir: Path) -> Path:
    try:
        relative = output.resolve().relative_to(results_dir.resolve())
    except ValueError:
        relative = Path(output.name)
    return out_dir / relative.with_suffix(".html")


def _row_page(row: dict, results_dir: Path, out_dir: Path, with_video: bool) -> ReportResult:
    output = _existing(str(row.get("output", "")), results_dir)
    if output is None:
        raise InputError(f"its output {row.get('output')} is missing")
    video = _existing(str(row.get("video", "")), results_dir) if with_video else None
    timings = {"seconds": row.get("seconds", 0.0), "profile": row.get("profile") or {}}
    return write_report(output, _page_path(output, results_dir, out_dir), video, video is not None, timings)


def write_folder_report(results_dir: Path, out_dir: Path, with_video: bool = True) -> FolderReport:
    """Every finished video's page under ``out_dir`` and ``out_dir/index.html``."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    summary = read_summary(results_dir)
    report = FolderReport(out_dir / "index.html")
    links = []
    for row in summary["videos"]:
        link, note = "", ""
        if row.get("status") in PAGE_STATUSES:
            try:
                page = _row_page(row, results_dir, out_dir, with_video)
                report.pages.append(page)
                link = Path(os.path.relpath(page.path, out_dir)).as_posix()
            except PosetrackError as exc:
                note = f"no report: {exc}"
                report.problems.append(f"{row.get('video')}: {exc}")
        links.append((row, link, note))
    with atomic_write(report.index) as fh:
        fh.write(index_html(summary, links, results_dir))
    return report


def _cell(value) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _row_html(row: dict, link: str, note: str) -> str:
    name = html.escape(str(row.get("video", "")))
    video = f'<a href="{html.escape(link)}">{name}</a>' if link else name
    seconds = float(row.get("seconds") or 0)
    fps = f"{row.get('frames', 0) / seconds:.1f}" if seconds > 0 and row.get("status") == "done" else ""
    problem = " ".join(part for part in (row.get("warning", ""), row.get("error", ""), note) if part)
    status = html.escape(str(row.get("status", "")))
    return (f'<tr class="st-{status}"><td>{video}</td><td><span class="badge">{status}</span></td>'
            + "".join(_cell(row.get(k, "")) for k in ("frames", "people", "tracks"))
            + _cell(fps) + f'<td class="problem">{html.escape(problem)}</td></tr>')


def index_html(summary: dict, links: list[tuple[dict, str, str]], results_dir: Path) -> str:
    """The index page: counts, totals and one row per video."""
    counts = " · ".join(f"{n} {status}" for status, n in (summary.get("counts") or {}).items() if n)
    totals = summary.get("totals") or {}
    rows = "\n".join(_row_html(row, link, note) for row, link, note in links)
    return fill(static_text("index.html"), {
        "CSS": static_text("report.css"), "TITLE": html.escape(str(results_dir)), "COUNTS": html.escape(counts),
        "TOTALS": html.escape(f"{totals.get('frames', 0)} frames, {totals.get('people', 0)} people, "
                              f"{float(totals.get('seconds', 0)):.1f} s"), "ROWS": rows})

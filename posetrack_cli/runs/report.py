"""``run --report``: the HTML report written at the end of a run, beside its outputs (``tracks.html`` beside
``tracks.json``; for a folder, a page beside every video's JSON and ``index.html`` beside ``summary.json``).

A report that cannot be made does not fail the run: its tracks are written, and the line says why and how to retry
with ``posetrack report``."""

from __future__ import annotations

from pathlib import Path

from posetrack_cli.errors import PosetrackError
from posetrack_cli.pipeline import VideoResult
from posetrack_cli.report import (
    FolderReport,
    ReportResult,
    write_folder_report,
    write_report,
)


def report_path(out_json: Path) -> Path:
    return out_json.with_suffix(".html")


def report_single(result: VideoResult) -> ReportResult:
    """The page of one finished video, with the run's stage timings."""
    timings = {"seconds": result.seconds, "profile": dict(result.profile)}
    out_json = Path(result.output)
    return write_report(out_json, report_path(out_json), Path(result.video), True, timings)


def report_folder(out_dir: Path) -> FolderReport:
    """The pages of a folder run, from its summary.json (which carries every video's timings)."""
    return write_folder_report(out_dir, out_dir)


def report_run(results: list[VideoResult], out: Path, batch: bool) -> FolderReport:
    """The pages of a finished run (``index`` None for one video); a problem is one line, never an exception."""
    try:
        if batch:
            return report_folder(out)
        return FolderReport(None, [report_single(r) for r in results if r.status == "done"])
    except PosetrackError as exc:
        target = out if batch else report_path(Path(results[0].output)) if results else out
        return FolderReport(None, [], [f"{target}: {exc} (the tracks are written; retry with posetrack report)"])

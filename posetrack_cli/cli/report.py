"""``posetrack report``: an HTML page to look at a run instead of reading its JSON."""

from __future__ import annotations

from pathlib import Path

import click

from posetrack_cli.errors import InputError
from posetrack_cli.report import FolderReport, ReportResult, write_folder_report, write_report


def size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


def page_line(page: ReportResult) -> str:
    """What a written page holds: its size (the video not counted), time, and the video it plays."""
    if page.video_src:
        video = f"plays {page.video_src}" + (f", {page.note}" if page.note else "")
    else:
        video = f"no video: {page.note}" if page.note else "no video"
    return f"wrote {page.path} ({size_text(page.bytes)} without the video, {page.seconds:.1f} s; {video})"


def echo_report(report: FolderReport) -> None:
    """A line per page written and per problem, then the index page."""
    for page in report.pages:
        click.echo(page_line(page))
    for problem in report.problems:
        click.echo(f"no report: {problem}", err=True)
    if report.index is not None:
        n = len(report.pages)
        click.echo(f"wrote {report.index} ({n} video page{'s' * (n != 1)})")


@click.command("report")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="report.html for a tracks.json; a folder (index.html inside) for a folder run's output.")
@click.option("--video", type=click.Path(path_type=Path), default=None,
              help="The run's video, when it has moved since the run (default: the path in the tracks.json).")
@click.option("--no-video", is_flag=True, help="A page without the video: the poses are drawn on black.")
def report_cmd(source: Path, out: Path, video: Path | None, no_video: bool) -> None:
    """Write an HTML report of a run: SOURCE is a tracks.json, or the --out folder of a folder run."""
    if not source.exists():
        raise InputError(f"{source}: no such file or folder; give a tracks.json or a folder run's output folder")
    if source.is_dir():
        if video is not None:
            raise InputError("--video names one video; a folder run's videos are found from its summary.json")
        echo_report(write_folder_report(source, out, with_video=not no_video))
        return
    if out.is_dir():
        out = out / f"{source.stem}.html"
    click.echo(page_line(write_report(source, out, video, with_video=not no_video)))

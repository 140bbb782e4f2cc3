"""Floor 2: the report of a run, one self-contained HTML page per video (player with the poses drawn over it,
track timeline, plots, contact sheet, flags, the run's settings) and an index page for a folder run."""

from posetrack_cli.report.folder import FolderReport, write_folder_report
from posetrack_cli.report.writer import ReportResult, write_page, write_report

__all__ = ["FolderReport", "ReportResult", "write_folder_report", "write_page", "write_report"]

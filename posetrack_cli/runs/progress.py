"""Progress as a small protocol: the runs report, the CLI draws (``cli/progress.py``), a library caller may
pass its own object or none."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    def planned(self, videos: int) -> None:
        """A batch of ``videos`` items is about to run."""

    def started(self, label: str, total: int | None) -> None:
        """A video (or, on Ray, the whole batch) begins: ``total`` frames, None when unknown."""

    def advanced(self, frames: int) -> None:
        """``frames`` more frames are done (negative: a crashed worker's frames are taken back)."""

    def finished(self) -> None:
        """One video of the batch is finished."""

    def close(self) -> None:
        """The run is over (also when it stopped early)."""


class Silent:
    """No progress shown."""

    def planned(self, videos: int) -> None:
        pass

    def started(self, label: str, total: int | None) -> None:
        pass

    def advanced(self, frames: int) -> None:
        pass

    def finished(self) -> None:
        pass

    def close(self) -> None:
        pass


class Counted:
    """Forwards to ``progress`` and counts the frames of the current video (for the row of an interrupted one)."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.done = progress, 0

    def on_start(self, info, max_frames: int | None = None) -> None:
        """``pipeline.run_video``'s ``on_start``."""
        self.done = 0
        total = min(info.frame_count, max_frames or info.frame_count) or max_frames
        self.progress.started(Path(info.path).name, total or None)

    def on_frames(self, n: int) -> None:
        self.done += n
        self.progress.advanced(n)

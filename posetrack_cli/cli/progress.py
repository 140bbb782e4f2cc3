"""Progress bars (tqdm) for the library's small protocols: ``VideoBars`` and ``FrameBar`` draw
``runs.progress.Progress``, ``DownloadBar`` draws ``io.download.Progress``, ``EpochBars`` draws training steps."""

from __future__ import annotations

from tqdm import tqdm


class VideoBars:
    """A per-video frame bar (fps and ETA), inside an overall bar of videos when there are several."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.overall, self.bar = quiet, None, None

    def planned(self, videos: int) -> None:
        if not self.quiet:
            self.overall = tqdm(total=videos, unit="video", desc="videos", position=0, dynamic_ncols=True)

    def started(self, label: str, total: int | None) -> None:
        if not self.quiet:
            self.bar = tqdm(total=total, unit="frame", desc=label[:30], position=1 if self.overall else 0,
                            leave=self.overall is None, dynamic_ncols=True)

    def advanced(self, frames: int) -> None:
        if self.bar is not None:
            self.bar.update(frames)

    def finished(self) -> None:
        self._close_bar()
        if self.overall is not None:
            self.overall.update(1)

    def close(self) -> None:
        self._close_bar()
        if self.overall is not None:
            self.overall.close()
            self.overall = None

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class FrameBar:
    """One bar of all the frames of a batch (Ray: the workers' reports), finished videos in its postfix."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar, self.videos, self.finished_videos = quiet, None, 0, 0

    def planned(self, videos: int) -> None:
        self.videos = videos

    def started(self, label: str, total: int | None) -> None:
        if not self.quiet:
            self.bar = tqdm(total=total, unit="frame", desc=label, dynamic_ncols=True)

    def advanced(self, frames: int) -> None:
        if self.bar is not None:
            self.bar.update(frames)

    def finished(self) -> None:
        self.finished_videos += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.finished_videos}/{self.videos} videos")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DownloadBar:
    """A tqdm bar in bytes for each download (on stderr); a resumed download starts at the bytes it already had."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def start(self, label: str, total: int | None, done: int) -> None:
        self.close()
        self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                        dynamic_ncols=True)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EpochBars:
    """``train(on_step=...)``: one bar per epoch (loss, images/s and learning rate in its postfix)."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, step) -> None:
        if self.bar is None:
            self.bar = tqdm(total=step.iterations, desc=f"{step.phase} {step.epoch}/{step.epochs}", unit="it",
                            leave=False, dynamic_ncols=True)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{step.loss:.4g}", img_s=f"{step.images_per_s:.1f}", lr=f"{step.lr:.2e}")
        if step.iteration == step.iterations:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

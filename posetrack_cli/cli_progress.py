"""Progress bars the library reports to through small protocols: ``DownloadBar`` draws ``download.Progress``."""

from __future__ import annotations

from tqdm import tqdm


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

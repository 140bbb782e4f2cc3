"""prefetch() and BackgroundWriter: order, bounded look-ahead, exceptions re-raised, no leaked threads."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from posetrack_cli.io.background import BackgroundWriter, prefetch


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("posetrack-prefetch", "posetrack-writer")]


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    yield
    deadline = time.monotonic() + 2.0
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _workers(), "a prefetch/writer thread outlived its iterator"


class Source:
    """A generator-like source that records how far it was read and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.closed = False
        self.thread_names: set[str] = set()

    def __iter__(self):
        return self

    def __next__(self) -> int:
        self.thread_names.add(threading.current_thread().name)
        if self.produced == self.fail_at:
            raise RuntimeError(f"broken at {self.produced}")
        if self.produced >= self.n:
            raise StopIteration
        self.produced += 1
        return self.produced - 1

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_yields_every_item_in_order(depth):
    src = Source(20)
    assert list(prefetch(src, depth)) == list(range(20))
    assert src.closed
    assert src.thread_names == ({"posetrack-prefetch"} if depth else {threading.current_thread().name})


def test_reads_at_most_depth_ahead():
    src = Source(100)
    it = prefetch(src, depth=2)
    assert next(it) == 0
    time.sleep(0.2)  # let the thread run ahead as far as it may
    # one item taken + 2 queued + 1 blocked in put = at most depth + 2 read from the source
    assert src.produced <= 4
    it.close()


def test_exception_in_source_is_reraised_in_consumer():
    src = Source(10, fail_at=3)
    got = []
    with pytest.raises(RuntimeError, match="broken at 3"):
        for item in prefetch(src, 2):
            got.append(item)
    assert got == [0, 1, 2]
    assert src.closed


def test_consumer_stopping_early_stops_and_closes_source():
    src = Source(10_000)
    with contextlib.closing(prefetch(src, 4)) as items:
        for item in items:
            if item == 5:
                break
    assert src.closed
    assert src.produced < 20


def test_consumer_raising_stops_thread():
    src = Source(10_000)
    with pytest.raises(KeyError):
        for item in prefetch(src, 4):
            if item == 2:
                raise KeyError("consumer failed")
    assert src.closed


def test_unstarted_prefetch_starts_no_thread():
    it = prefetch(Source(5), 2)
    assert not _workers()
    it.close()


def test_negative_depth_is_rejected():
    with pytest.raises(ValueError):
        next(prefetch([1], -1))


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_writer_writes_everything_in_order(depth):
    out, names = [], set()

    def write(x):
        names.add(threading.current_thread().name)
        out.append(x)

    with BackgroundWriter(write, depth) as writer:
        for i in range(50):
            writer.submit(i)
    assert out == list(range(50))
    assert names == ({"posetrack-writer"} if depth else {threading.current_thread().name})


def test_writer_error_reraised_and_later_items_dropped():
    out = []

    def write(x):
        if x == 3:
            raise OSError("disk full")
        out.append(x)

    with pytest.raises(OSError, match="disk full"):
        with BackgroundWriter(write, 2) as writer:
            for i in range(10):
                writer.submit(i)
                time.sleep(0.005)
    assert out == [0, 1, 2]


def test_writer_flushes_when_body_raises():
    out = []
    with pytest.raises(ValueError):
        with BackgroundWriter(out.append, 4) as writer:
            writer.submit(1)
            writer.submit(2)
            raise ValueError("frame loop failed")
    assert out == [1, 2]  # results computed before the failure are still written

"""Overlap IO with compute: a background-thread prefetch iterator (video decoding ahead of the networks) and a
background writer (results written while the next batch is computed).

Both keep at most ``depth`` items in flight, so memory stays bounded whatever the video length. Exceptions raised
in the thread are re-raised in the caller with their original traceback; the thread is stopped and joined when the
caller finishes, stops early or raises, and the source iterator is closed from the thread that iterates it (a video
generator releases its capture there). ``depth`` 0 runs everything in the caller's thread (the ablation baseline).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_POLL_S = 0.05  # seconds between checks of the stop flag while a queue is full or empty


class _End:
    """Queue marker: the source is exhausted (``error`` None) or raised ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; True when it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(iterable: Iterable, q: queue.Queue, stop: threading.Event) -> None:
    it = iter(iterable)
    end = _End()
    try:
        for item in it:
            if not _put(q, item, stop):
                break
    except Exception as exc:  # handed to the consumer, which re-raises it
        end = _End(exc)
    finally:
        _close(it)
    _put(q, end, stop)


def _close(it: Iterator) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def prefetch(iterable: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``iterable`` in a background thread, at most ``depth`` items ahead of the consumer.

    The thread starts at the first ``next()`` and is joined when the returned generator finishes, raises or is
    closed (``contextlib.closing`` or the end of a ``for`` loop that breaks out, in CPython at once).
    """
    if depth < 0:
        raise ValueError(f"prefetch depth must be >= 0, got {depth}")
    if depth == 0:
        it = iter(iterable)
        try:
            yield from it
        finally:
            _close(it)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(iterable, q, stop), name="posetrack-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        _drain(q)
        thread.join()


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class BackgroundWriter(Generic[T]):
    """Calls ``write(item)`` for every submitted item, in order, in a background thread.

    Use as a context manager: leaving it waits until every submitted item is written and joins the thread. An
    exception raised by ``write`` is re-raised by the next ``submit`` or on leaving; items submitted after it are
    dropped. ``depth`` bounds the items waiting (``submit`` blocks when full); 0 writes in the caller's thread.
    """

    def __init__(self, write: Callable[[T], None], depth: int = 8) -> None:
        if depth < 0:
            raise ValueError(f"writer depth must be >= 0, got {depth}")
        self._write = write
        self._depth = depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BackgroundWriter[T]:
        if self._depth > 0:
            self._thread = threading.Thread(target=self._run, name="posetrack-writer", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if self._error is None:
                try:
                    self._write(item)
                except Exception as exc:  # re-raised in the caller's thread
                    self._error = exc

    def submit(self, item: T) -> None:
        self._raise_pending()
        if self._thread is None:
            self._write(item)
        else:
            self._queue.put(item)

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is not None:
            self._queue.put(_End())
            self._thread.join()
            self._thread = None
        if exc_type is None:
            self._raise_pending()
        elif self._error is not None and self._error is not exc:
            log.error("background writer failed while another error was raised: %r", self._error)

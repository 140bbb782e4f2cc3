"""Downloading one weights file: resumed with an HTTP Range request when the server honours it (a partial file is
discarded when it does not), sha256-checked, renamed into place atomically, one downloader per file at a time.

Progress goes to a small ``Progress`` protocol (the CLI draws it with tqdm); the library itself prints nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

from posetrack_cli.errors import WeightsError

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0  # seconds to connect, and for any one read to stall: an unreachable network fails fast, and a
# stalled download keeps its partial file for the next run to resume
CHUNK = 1 << 16  # bytes per read: an interrupted download keeps all but the last read


class Progress(Protocol):
    """Bytes of one download as they arrive (``done``: bytes already there from a resumed partial file)."""

    def start(self, label: str, total: int | None, done: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def close(self) -> None: ...


class DownloadError(WeightsError):
    """A download failed (no network, an HTTP error, a sha256 mismatch); ``reason`` is the short cause."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def partial_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` collect until they are complete and checked (kept between runs to resume)."""
    return dest.with_name(f".{dest.name}.part")


def download(url: str, dest: Path, sha256: str, progress: Progress | None = None,
             timeout: float = TIMEOUT_S) -> Path:
    """``url`` -> ``dest``; the file's sha256 must start with ``sha256`` (else nothing is saved). A partial file left
    by an interrupted download is resumed; ``DownloadError`` names the cause in one line."""
    part = partial_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.with_name(f".{dest.name}.lock")):
        if dest.is_file() and sha256_of(dest).startswith(sha256):
            return dest  # another process (a Ray worker) finished it while this one waited
        try:
            digest = _fetch(url, part, dest.name, progress, timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError, RuntimeError, ValueError) as exc:
            reason = _reason(exc)
            raise DownloadError(f"cannot download {url} ({reason}); offline? put {dest.name} into {dest.parent} "
                                f"or pass --pose-weights PATH", reason) from None
        if not digest.startswith(sha256):
            part.unlink(missing_ok=True)
            reason = f"sha256 {digest[:12]}..., expected {sha256}"
            raise DownloadError(f"download of {url} has {reason}; nothing was saved", reason)
        os.replace(part, dest)
    log.info("downloaded %s to %s", url, dest)
    return dest


def sha256_of(path: str | os.PathLike) -> str:
    return _hasher(path).hexdigest()


def _reason(exc: BaseException) -> str:
    """The short cause of a failed download: "connection refused", "timed out", "HTTP 404 Not Found", ..."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    cause = getattr(exc, "reason", None) or exc
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host: {cause.strerror or cause}"
    return str(cause).split("\n")[0] or type(cause).__name__


def _fetch(url: str, part: Path, label: str, progress: Progress | None, timeout: float) -> str:
    """Stream ``url`` into ``part``, continuing after the bytes already in it when the server answers the Range
    request with them (206); any other answer starts the file over. Returns the whole file's sha256."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:
            raise
        part.unlink()  # the partial file is no prefix of this file (416 Range Not Satisfiable): start over
        return _fetch(url, part, label, progress, timeout)
    with response:
        resumed = have > 0 and getattr(response, "status", None) == 206 and _range_start(response) == have
        if have and not resumed:
            log.info("%s ignored the Range request; the partial file of %d bytes is discarded", url, have)
        digest = _hasher(part) if resumed else hashlib.sha256()
        length = int(response.headers.get("Content-Length") or 0) or None
        total = (length + have if resumed else length) if length else None
        with open(part, "ab" if resumed else "wb") as out:
            received = _copy(response, out, digest, progress, label, total, have if resumed else 0)
    if length is not None and received < length:  # http.client's read() returns short at a dropped connection
        raise ConnectionError(f"the connection closed after {received} of {length} bytes")
    return digest.hexdigest()


def _copy(response, out: BinaryIO, digest, progress: Progress | None, label: str, total: int | None,
          done: int) -> int:
    """Stream the body into ``out`` and ``digest``; returns the bytes received (all are on disk, even when a read
    fails: the next run resumes after them)."""
    if progress is not None:
        progress.start(label, total, done)
    received = 0
    try:
        while block := response.read(CHUNK):
            out.write(block)
            digest.update(block)
            received += len(block)
            if progress is not None:
                progress.advance(len(block))
        return received
    finally:
        out.flush()
        os.fsync(out.fileno())
        if progress is not None:
            progress.close()


def _range_start(response) -> int | None:
    """First byte of a 206 answer (``Content-Range: bytes 100-999/1000`` -> 100)."""
    found = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range") or "")
    return int(found[1]) if found else None


def _hasher(path: str | os.PathLike):
    """A sha256 object fed with the bytes of ``path`` (more may follow)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One downloader per file across processes (POSIX ``flock``; elsewhere no lock). The lock file is removed
    afterwards; a process that waited on it finds the finished file and returns it."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)

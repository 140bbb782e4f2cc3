"""Files in and out: atomic writes (a temporary name beside the target, fsync, then a rename over it) and JSON
read or written with one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from posetrack_cli.errors import InputError, OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed and
    ``path`` is left as it was. ``OSError`` (no permission, disk full) becomes a one-line ``OutputError``."""
    target = Path(path)
    binary = "b" in mode
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}; choose a writable output path") from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _remove_quietly(tmp)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc} (nothing was replaced)") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_json(path: str | os.PathLike, obj, *, indent: int | None = None, newline: bool = False) -> None:
    """``obj`` as JSON, atomically: compact (no spaces) by default, ``indent`` for files people read."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=indent, separators=None if indent is not None else (",", ":"))
        if newline:
            fh.write("\n")


def read_json(path: str | os.PathLike, what: str):
    """The parsed JSON of ``path``, or a one-line ``InputError`` naming ``what`` the file should be."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: the {what} is not valid JSON ({exc})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)

"""Errors the CLI reports as one line (what is wrong and what to do) with a non-zero exit code."""


class PosetrackError(Exception):
    """Base class: the message is complete and user-facing; the CLI prints it without a traceback."""

    exit_code = 1


class InputError(PosetrackError):
    """A missing, unreadable, corrupt or unsupported input (video, folder, annotation file)."""

    exit_code = 2


class WeightsError(PosetrackError):
    """A weights file is missing, corrupt, of the wrong model, or fails its sha256 check."""

    exit_code = 3


class OutputError(PosetrackError):
    """An output cannot be written (permissions, disk full)."""

    exit_code = 4


def one_line(exc: BaseException, with_type: bool = True) -> str:
    """An exception as one line: ``Type: first line of its message``; ``with_type=False``: the first line alone
    (the type's name when the message is empty). Every "what went wrong" line of the package is made here."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if with_type:
        return f"{type(exc).__name__}: {first}"
    return first or type(exc).__name__

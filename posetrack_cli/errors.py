"""Errors the CLI reports as one line (what is wrong and what to do) with a non-zero exit code, and the one
formatter that turns a dependency's ImportError/AttributeError into such a line (``dependency_failure``)."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import re
import sys
from types import TracebackType

OWN_PACKAGE = __name__.split(".")[0]  # "posetrack_cli": frames and modules of this package are ours, not a dependency


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


class DependencyError(PosetrackError):
    """An installed third-party package lacks an API posetrack calls, is missing, or fails to import.

    ``what`` says which package (and its installed version) failed and how; ``hint`` is an optional way around it
    (another option); ``package`` the distribution's name; the message ends by pointing at ``posetrack doctor``."""

    exit_code = 5

    def __init__(self, what: str, hint: str = "", package: str = "") -> None:
        self.what, self.hint, self.package = what, hint, package
        super().__init__("; ".join(part for part in (what, hint, "run posetrack doctor") if part))


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def installed(module: str) -> tuple[str, str] | None:
    """(distribution, version) of the installed package that provides the top-level module of ``module``
    (``cv2.dnn`` -> ``("opencv-python", "5.1.0.95")``); None for our own, standard-library or unknown modules."""
    top = module.split(".")[0]
    if top in (OWN_PACKAGE, "builtins", "__main__") or top in sys.stdlib_module_names:
        return None
    for name in _distributions().get(top, []):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return name, importlib.metadata.version(name)
    return None


def _frames(tb: TracebackType | None) -> list[str]:
    """Module names of the traceback's frames, outermost first."""
    names = []
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return names


def _missing_api(exc: ImportError | AttributeError) -> tuple[str, str] | None:
    """(module the API was looked up in, its dotted name) for ``module.attr`` / ``from module import name`` /
    ``instance.attr`` lookups that failed; None when the exception says nothing about where."""
    if isinstance(exc, AttributeError):
        obj, name = getattr(exc, "obj", None), getattr(exc, "name", None)
        if obj is None or not name:  # raised by hand, e.g. by a module's lazy ``__getattr__``
            found = re.match(r"module '?([\w.]+)'? has no attribute '?(\w+)", str(exc))
            return (found[1], f"{found[1]}.{found[2]}") if found else None
        if isinstance(obj, type(sys)):
            return obj.__name__, f"{obj.__name__}.{name}"
        owner = obj if isinstance(obj, type) else type(obj)
        return owner.__module__, f"{owner.__module__.split('.')[0]}.{owner.__qualname__}.{name}"
    found = re.match(r"cannot import name '([^']+)' from '([^']+)'", str(exc))
    return (found[2], f"{found[2]}.{found[1]}") if found else None


def dependency_failure(exc: BaseException, user: str | None = None, hint: str = "") -> DependencyError | None:
    """An ImportError/AttributeError that comes from a third-party package as a one-line ``DependencyError`` naming
    the package and its installed version; None for anything else (then it is a bug of ours).

    Attributed, in order: an API looked up in a dependency that lacks it (``cv2.dnn.readNetFromTensorflow``), a
    module that is not installed, and the module of the traceback's last frame (an error raised inside the
    dependency). ``user`` names what needed it (default: our last frame's module)."""
    if not isinstance(exc, (ImportError, AttributeError)):
        return None
    frames = _frames(exc.__traceback__)
    ours = [name for name in frames if name.split(".")[0] == OWN_PACKAGE]
    user = user or (ours[-1] if ours else "posetrack")
    api = _missing_api(exc)
    if api is not None and (package := installed(api[0])) is not None:
        return DependencyError(f"{user} needs {api[1]}; installed {package[0]} {package[1]} lacks it", hint,
                               package[0])
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and missing.split(".")[0] not in (OWN_PACKAGE, *sys.stdlib_module_names):
        package = installed(missing)
        if package is None:
            return DependencyError(f"{user} needs the module {missing}, which is not installed", hint,
                                   missing.split(".")[0])
        return DependencyError(f"{user} needs {missing}; installed {package[0]} {package[1]} fails to import "
                               f"({one_line(exc)})", hint, package[0])
    package = installed(frames[-1]) if frames else None
    if package is None:
        return None
    return DependencyError(f"{package[0]} {package[1]} failed in {frames[-1]} ({one_line(exc)})", hint, package[0])


@contextlib.contextmanager
def dependency_calls(user: str, hint: str = ""):
    """Around an adapter's calls into its third-party library (also a decorator): an ImportError/AttributeError
    that comes from a dependency becomes a ``DependencyError`` naming ``user`` (e.g. "SSDLite"), the package and
    its version, plus ``hint``; anything else passes unchanged."""
    try:
        yield
    except (ImportError, AttributeError) as exc:
        error = dependency_failure(exc, user, hint)
        if error is None:
            raise
        raise error from exc


def one_line(exc: BaseException, with_type: bool = True) -> str:
    """An exception as one line: ``Type: first line of its message`` ("no message" when it is empty);
    ``with_type=False``: the first line alone (the type's name when the message is empty). Every "what went wrong"
    line of the package is made here."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if with_type:
        return f"{type(exc).__name__}: {first or 'no message'}"
    return first or type(exc).__name__

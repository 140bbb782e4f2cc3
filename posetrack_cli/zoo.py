"""Bundled files and model cards: where they live and how weights are resolved and verified."""

from __future__ import annotations

from pathlib import Path

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def _resource_dir(package: str, checkout_folder: str) -> Path:
    """A data folder of the installation: the checkout's top-level folder (editable install, tests) or the
    package that setuptools maps it to inside a wheel."""
    local = _CHECKOUT_ROOT / checkout_folder
    if local.is_dir():
        return local
    from importlib.resources import files

    return Path(str(files(package)))


def weights_dir() -> Path:
    return _resource_dir("posetrack_cli._weights", "weights")


def models_dir() -> Path:
    return _resource_dir("posetrack_cli._models", "models")


def bundled_path(name: str) -> Path:
    """Path of a bundled weights file (it may not exist; callers report a missing file)."""
    return weights_dir() / name

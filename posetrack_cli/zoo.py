"""Bundled files and model cards: where they live and how weights are resolved and verified.

A model card (``models/<name>.yaml``) is data: network and its arguments, input size, normalisation, keypoint set
and the weights file with its URL and sha256. Weights are looked up in this order: an explicit path, the bundled
``weights/`` folder, the cache (``$POSETRACK_CACHE`` or ``~/.cache/posetrack``), then (only when asked, and never
offline: ``POSETRACK_OFFLINE=1``) downloaded into the cache from the card's URL, or from ``$POSETRACK_WEIGHTS_URL``/
<file> when that mirror is set (``download.download``: resumed, sha256-checked, renamed into place).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from posetrack_cli.config import NETWORK_NAMES
from posetrack_cli.errors import PosetrackError, WeightsError
from posetrack_cli.io.download import DownloadError, Progress, download, sha256_of
from posetrack_cli.records import SKELETONS

log = logging.getLogger(__name__)

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_LAYOUTS = ("auto", "mmpose1", "mmpose0", "megvii")  # nets.checkpoint.LAYOUTS
DEFAULT_CARD = "mspn-2x50-coco"  # the papers' network for --pose auto: 2xMSPN-50, COCO val2017 AP 0.754 (MMPose
# zoo), downloaded on first use when no card's weights are present
OFFLINE_ENV = "POSETRACK_OFFLINE"  # "1": never download (as --offline)
WEIGHTS_URL_ENV = "POSETRACK_WEIGHTS_URL"  # a base URL (a mirror) that serves the cards' files by name


def _resource_dir(package: str, checkout_folder: str) -> Path:
    """A data folder of the installation: the checkout's top-level folder (editable install, tests) or the
    package that setuptools maps it to inside a wheel."""
    local = _CHECKOUT_ROOT / checkout_folder
    if local.is_dir():
        return local
    # The data folders hold no __init__.py, so in a wheel they are namespace packages, whose one folder is the only
    # entry of __path__ (importlib.resources.files() gives a MultiplexedPath there, and its str() is not a path).
    try:
        return Path(next(iter(importlib.import_module(package).__path__)))
    except ModuleNotFoundError:  # neither a checkout nor an installed package: callers report the missing file
        return local


def weights_dir() -> Path:
    return _resource_dir("posetrack_cli._weights", "weights")


def models_dir() -> Path:
    return _resource_dir("posetrack_cli._models", "models")


def bundled_path(name: str) -> Path:
    """Path of a bundled weights file (it may not exist; callers report a missing file)."""
    return weights_dir() / name


def resolve_path(value: str | None, default_name: str) -> Path:
    """An explicit path as given, else the bundled file ``default_name``."""
    if value:
        return Path(value).expanduser()
    return bundled_path(default_name)


def cache_dir() -> Path:
    """Downloaded weights: ``$POSETRACK_CACHE`` or ``~/.cache/posetrack``."""
    return Path(os.environ.get("POSETRACK_CACHE") or Path.home() / ".cache" / "posetrack").expanduser()


def is_offline(requested: bool = False) -> bool:
    """No downloads: asked for (``--offline``, ``PipelineConfig.offline``) or ``POSETRACK_OFFLINE=1``."""
    return requested or os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------------------------------------- model cards
@dataclass(frozen=True)
class WeightsSpec:
    file: str  # file name looked up in weights/ and the cache
    sha256: str | None  # full digest or its first hex digits (MMPose file names carry the first 8); None: unpublished
    url: str | None = None  # public download; None when there is none (the message then says how to get it)
    layout: str = "auto"  # checkpoint layout for nets.checkpoint.load_checkpoint
    licence: str = ""
    source: str = ""  # where the file comes from, for people (a paper table, a repository)

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            if not isinstance(self.sha256, str):  # YAML reads 12345678 as a number: leading zeros would be lost
                raise ValueError(f"sha256 must be a string (quote it in the card), got {self.sha256!r}")
            digest = self.sha256.lower()
            if len(digest) < 8 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"sha256 must be at least 8 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)
        if self.url and self.sha256 is None:
            raise ValueError("a downloadable file needs a sha256 to check it against")
        if self.layout not in CHECKPOINT_LAYOUTS:
            raise ValueError(f"unknown checkpoint layout {self.layout!r}")
        if not self.file or "/" in self.file or "\\" in self.file:
            raise ValueError(f"weights file must be a plain file name, got {self.file!r}")


@dataclass(frozen=True)
class ModelCard:
    name: str
    network: str  # nets.registry name: "mspn" | "mdpn"
    input_size: tuple[int, int]  # network input (w, h) in pixels, e.g. (192, 256)
    skeleton: str  # records.SKELETONS name of the returned poses, e.g. "coco17"
    color: str  # channel order the weights expect: "rgb" (MMPose) or "bgr" (megvii)
    mean: tuple[float, float, float]  # per channel, 0..255 scale, in ``color`` order
    std: tuple[float, float, float]
    weights: WeightsSpec
    network_args: Mapping[str, Any] = field(default_factory=dict, hash=False)  # keyword arguments of the network
    description: str = ""
    coco_ap: float | None = None  # published COCO val2017 AP, used to rank cards for the "auto" choice

    def __post_init__(self) -> None:
        if self.network not in NETWORK_NAMES:
            raise ValueError(f"unknown network {self.network!r}: use one of {NETWORK_NAMES}")
        if self.color not in ("rgb", "bgr"):
            raise ValueError(f"color must be rgb or bgr, got {self.color!r}")
        if self.skeleton not in SKELETONS:
            raise ValueError(f"unknown skeleton {self.skeleton!r}: use one of {sorted(SKELETONS)}")
        size = tuple(int(v) for v in self.input_size)
        if len(size) != 2 or min(size) < 32 or len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("input_size must be (w, h) >= 32 and mean/std three positive-std values")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "network_args", MappingProxyType(dict(self.network_args)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        data = dict(data)
        data["weights"] = WeightsSpec(**data["weights"])
        return cls(**data)


def list_cards() -> list[str]:
    """Names of the model cards in ``models/``."""
    return sorted(p.stem for p in models_dir().glob("*.yaml"))


def load_card(name: str) -> ModelCard:
    """``models/<name>.yaml`` -> ``ModelCard``; unknown names and malformed cards are one-line errors."""
    path = models_dir() / f"{name}.yaml"
    if not path.is_file():
        raise PosetrackError(f"unknown pose model {name!r}: choose one of {', '.join(list_cards())}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data.get("name") != name:
            raise ValueError(f"the card calls itself {data.get('name')!r}")
        return ModelCard.from_dict(data)
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PosetrackError(f"model card {path} is malformed: {exc}") from None


# ------------------------------------------------------------------------------------------------ weights files
def verify_file(path: str | os.PathLike, card: ModelCard) -> str:
    """Check ``path`` against the card's sha256 (prefix); returns the full digest, raises ``WeightsError``.
    A card without a published digest accepts any readable file (the loader still checks every key and shape)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    digest = sha256_of(path)
    if card.weights.sha256 is None:
        log.warning("%s: %s has no published sha256; not checked", card.name, path)
    elif not digest.startswith(card.weights.sha256):
        raise WeightsError(f"{path}: sha256 {digest[:12]}... does not match {card.name}'s {card.weights.sha256}; "
                           f"the file is damaged or another model: delete it and run "
                           f"`posetrack weights fetch {card.name}`")
    return digest


def locate_weights(card: ModelCard) -> Path | None:
    """The card's file in ``weights/`` or the cache, without hashing it; None when absent."""
    for folder in (weights_dir(), cache_dir()):
        if (folder / card.weights.file).is_file():
            return folder / card.weights.file
    return None


def missing_weights_message(card: ModelCard) -> str:
    """One line: which file is missing, where it was looked for, where to get it and how to pass it."""
    w = card.weights
    head = f"weights for {card.name} not found: {w.file}"
    folders = f"{weights_dir()} nor in {cache_dir()}"
    if w.url:
        return (f"{head} (sha256 {w.sha256[:8]}...) is neither in {folders}; download it from {w.url} into one of "
                f"them (or run `posetrack weights fetch {card.name}` where there is internet), "
                f"or pass --pose-weights PATH")
    return (f"{head} is neither in {folders} and has no public download ({w.source or 'see models/README.md'}); "
            f"put the file there or pass --pose-weights PATH")


def weights_url(card: ModelCard) -> str | None:
    """Where the card's file is downloaded from: ``$POSETRACK_WEIGHTS_URL/<file>`` when that mirror is set (only for
    files with a published sha256), else the card's URL; None when there is none."""
    base = os.environ.get(WEIGHTS_URL_ENV, "").strip()
    if base and card.weights.sha256:
        return f"{base.rstrip('/')}/{card.weights.file}"
    return card.weights.url


def resolve_weights(card: ModelCard, explicit: str | None = None, allow_download: bool = False, *,
                    progress: Progress | None = None) -> Path:
    """The weights file for ``card``: ``explicit`` (taken as is: fine-tuned files differ from the public one),
    else the bundled folder or the cache (sha256-checked), else a download into the cache when allowed (and not
    offline), reported to ``progress``."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsError(f"--pose-weights {explicit}: file not found")
        return path
    found = locate_weights(card)
    if found is not None:
        verify_file(found, card)
        return found
    url = weights_url(card)
    if allow_download and url and is_offline():
        raise WeightsError(f"{missing_weights_message(card)} (not downloaded: {OFFLINE_ENV} is set)")
    if allow_download and url:
        return download(url, cache_dir() / card.weights.file, card.weights.sha256, progress)
    raise WeightsError(missing_weights_message(card))


def auto_card(network: str | None = None) -> ModelCard | None:
    """The best card (highest published COCO AP) whose weights file is present, or None."""
    cards = [load_card(name) for name in list_cards()]
    present = [c for c in cards if (network is None or c.network == network) and locate_weights(c) is not None]
    return max(present, key=lambda c: c.coco_ap or 0.0, default=None)


@dataclass(frozen=True)
class AutoChoice:
    """What ``--pose auto`` runs: ``card``, or the bundled yolo-crop estimator (``card`` None) for the reason in
    ``note`` (one line, with how to get MSPN)."""

    card: ModelCard | None
    note: str = ""


def choose_auto(offline: bool = False, progress: Progress | None = None) -> AutoChoice:
    """The best card whose weights are present; else ``DEFAULT_CARD`` with its weights downloaded into the cache
    (online only); else no card, and a note saying why."""
    present = auto_card()
    if present is not None:
        return AutoChoice(present)
    card = load_card(DEFAULT_CARD)
    then = (f"using the bundled yolo-crop pose estimator; for {card.name} run `posetrack weights fetch {card.name}` "
            f"where there is internet, or pass --pose-weights PATH")
    if is_offline(offline):
        return AutoChoice(None, f"offline (--offline or {OFFLINE_ENV}=1): {card.name} weights not downloaded; {then}")
    try:
        resolve_weights(card, allow_download=True, progress=progress)
    except DownloadError as exc:
        return AutoChoice(None, f"{card.name} weights not downloaded ({exc.reason}); {then}")
    return AutoChoice(card)

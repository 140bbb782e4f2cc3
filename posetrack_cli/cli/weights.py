"""``posetrack weights list|verify|fetch``: see, check and download the pose networks' weights files.

Registered by the main CLI with ``main.add_command(weights)``. Only this shell prints; the zoo logs.
"""

from __future__ import annotations

import functools
import sys

import click

from posetrack_cli import zoo
from posetrack_cli.cli.progress import DownloadBar
from posetrack_cli.errors import PosetrackError, WeightsError


def _reports_errors(command):
    """One-line ``error: ...`` on stderr and the error's exit code instead of a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PosetrackError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


@click.group("weights")
def weights() -> None:
    """List, verify and download the pose networks' weights (model cards in models/)."""


@weights.command("list")
@_reports_errors
def list_weights() -> None:
    """Every model card, its weights file and whether that file is present."""
    rows = [("model", "network", "COCO AP", "weights")]
    for name in zoo.list_cards():
        card = zoo.load_card(name)
        path = zoo.locate_weights(card)
        status = str(path) if path else f"missing: {card.weights.file}"
        ap = f"{card.coco_ap:.3f}" if card.coco_ap is not None else "-"
        rows.append((name, card.network, ap, status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    click.echo(f"weights folder: {zoo.weights_dir()}   cache: {zoo.cache_dir()}")


@weights.command("verify")
@click.argument("names", nargs=-1)
@_reports_errors
def verify(names: tuple[str, ...]) -> None:
    """Check the sha256 of the present weights files (of NAMES, default: all present)."""
    cards = [zoo.load_card(n) for n in (names or zoo.list_cards())]
    failures = 0
    for card in cards:
        path = zoo.locate_weights(card)
        if path is None:
            if names:
                click.echo(f"{card.name}: missing ({card.weights.file})")
                failures += 1
            continue
        try:
            digest = zoo.verify_file(path, card)
        except WeightsError as exc:
            click.echo(f"{card.name}: FAILED: {exc}")
            failures += 1
            continue
        checked = "ok" if card.weights.sha256 else "no published sha256, not checked"
        click.echo(f"{card.name}: {checked} ({path}, sha256 {digest[:12]}...)")
    if not names and not any(zoo.locate_weights(c) for c in cards):
        click.echo(f"no weights files present in {zoo.weights_dir()} or {zoo.cache_dir()}")
    if failures:
        raise WeightsError(f"{failures} weights file(s) missing or damaged")


@weights.command("fetch")
@click.argument("name")
@_reports_errors
def fetch(name: str) -> None:
    """Download NAME's weights into the cache (with a progress bar) and check their sha256."""
    card = zoo.load_card(name)
    if zoo.weights_url(card) is None:
        raise WeightsError(zoo.missing_weights_message(card))
    path = zoo.resolve_weights(card, allow_download=True, progress=DownloadBar())
    click.echo(f"{card.name}: {path}")

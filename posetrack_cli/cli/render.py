"""``posetrack render``: draw an existing tracks.json onto its video."""

from __future__ import annotations

import json
from pathlib import Path

import click

from posetrack_cli.errors import InputError, one_line
from posetrack_cli.export.native import frame_from_dict
from posetrack_cli.io.sources import probe
from posetrack_cli.render import render_video


@click.command("render")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("tracks", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Overlay video to write (.mp4/.avi).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
def render_cmd(video: Path, tracks: Path, out: Path, max_frames: int | None) -> None:
    """Draw the poses and ids of a tracks.json onto its video."""
    info = probe(video)
    try:
        doc = json.loads(tracks.read_text(encoding="utf-8"))
        skeleton = doc["models"]["skeleton"]
        frames = doc["frames"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{tracks}: not a posetrack tracks.json ({one_line(exc)})") from None
    if info.kind == "frames" and isinstance(doc.get("video"), dict) and doc["video"].get("fps"):
        info = probe(video, float(doc["video"]["fps"]))  # a folder of frames: the rate the run used (--fps)
    n = render_video(info, (frame_from_dict(f, skeleton) for f in frames), out, max_frames=max_frames)
    click.echo(f"wrote {out} ({n} frames at {info.fps:g} fps)")

"""``posetrack refine``: the refinement pass on an existing result (its ``.jsonl`` stream), without the video; and
the refinement options that ``posetrack run`` shares (``refine_options``, ``refine_config``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from posetrack_cli.cli.options import csv
from posetrack_cli.config import OutputConfig, PipelineConfig, RefineConfig, TrackConfig
from posetrack_cli.errors import InputError
from posetrack_cli.export import FORMAT_NAMES
from posetrack_cli.export.native import read_stream
from posetrack_cli.pipeline import write_outputs
from posetrack_cli.records import VideoInfo

_REFINE, _TRACK = RefineConfig(), TrackConfig()


def refine_options(command):
    """The options of the offline refinement pass (and of the online tracker's flow check)."""
    options = [
        click.option("--refine/--no-refine", "refine", default=_REFINE.enabled, show_default=True,
                     help="Refine the final tracks: stitch tracklets across gaps, fill short gaps, smooth keypoints "
                          "(the .jsonl stream keeps the online tracks). --no-refine: the papers' tracker output."),
        click.option("--repair-swaps/--no-repair-swaps", "repair_swaps", default=_REFINE.repair_swaps,
                     show_default=True,
                     help="Where two tracks pass close to each other and the online tracker exchanged their people, "
                          "give each its own back (the labelling with the least acceleration)."),
        click.option("--max-gap", type=click.FloatRange(min=0), default=_REFINE.max_gap_s, show_default=True,
                     help="Seconds: join a tracklet with one that starts up to this long after it ends (0 = no "
                          "joins)."),
        click.option("--fill-gap", type=click.IntRange(min=0), default=_REFINE.fill_gap, show_default=True,
                     help="Frames: interpolate gaps of up to this many missing frames inside a track, marked "
                          '"interpolated": true with lowered scores (0 = none).'),
        click.option("--smooth-cutoff", type=click.FloatRange(min=0), default=_REFINE.smooth_cutoff_hz,
                     show_default=True,
                     help="Hz: zero-phase, confidence-weighted keypoint smoothing cutoff (0 = none)."),
        click.option("--lean-scores/--no-lean-scores", "lean_scores", default=_REFINE.lean_scores,
                     show_default=True,
                     help="With smoothing, a low-score joint (placed by its neighbours in time) takes their mean "
                          "score when higher. --no-lean-scores: smoothing moves joints and leaves every score."),
        click.option("--flow-check/--no-flow-check", "flow_check", default=_TRACK.flow_check, show_default=True,
                     help="Refuse optical flow that does not explain the next frame (black frame, cut): remembered "
                          "poses move on their own velocity instead."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def refine_config(opts: dict) -> RefineConfig:
    """The refinement options (removed from ``opts``) as a RefineConfig."""
    return RefineConfig(enabled=opts.pop("refine"), repair_swaps=opts.pop("repair_swaps"),
                        max_gap_s=opts.pop("max_gap"), fill_gap=opts.pop("fill_gap"),
                        smooth_cutoff_hz=opts.pop("smooth_cutoff"), lean_scores=opts.pop("lean_scores"),
                        max_join_cost=_REFINE.max_join_cost,
                        interpolated_score=_REFINE.interpolated_score)


def _config_of(header: dict, formats: tuple[str, ...], refine: RefineConfig) -> PipelineConfig:
    """The recorded run's tracking and export settings, with ``formats`` and ``refine``."""
    recorded = header.get("config", {})
    track = TrackConfig(min_track_length=recorded.get("track", {}).get("min_track_length", _TRACK.min_track_length))
    out = recorded.get("output", {})
    output = OutputConfig(formats=formats, **{k: out[k] for k in ("keypoint_threshold", "box_threshold") if k in out})
    return PipelineConfig(track=track, output=output, refine=refine)


@click.command("refine")
@click.argument("stream", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="The refined tracks.json (other formats are written beside it).")
@click.option("--format", "format", default=",".join(OutputConfig().formats), show_default=True,
              help=f"Comma list of outputs: {', '.join(FORMAT_NAMES)}.")
@refine_options
def refine_cmd(stream: Path, out: Path, format: str, **opts) -> None:
    """Refine the tracks of an existing result (its tracks.jsonl stream, the online tracker's) into new outputs."""
    formats = csv(format)
    bad = [f for f in formats if f not in FORMAT_NAMES]
    if bad:
        raise InputError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMAT_NAMES)}")
    opts.pop("flow_check")  # the online tracker's setting: it has run already
    refine = refine_config(opts)
    if stream.suffix != ".jsonl":
        raise InputError(f"{stream}: give the .jsonl stream of a run (beside its tracks.json)")
    header = read_stream(stream).header
    video = {k: v for k, v in header.get("video", {}).items() if k in VideoInfo.__dataclass_fields__}
    start = time.perf_counter()
    stats = write_outputs(VideoInfo(**video), out, _config_of(header, formats, refine), None, stream_path=stream)
    r = stats.get("refine", {})
    click.echo(f"{out}: {stats['tracks']} tracks, {stats['people']} people in {stats['frames']} frames"
               + (f"; {r['swaps']} swaps repaired, {r['joins']} joins, {r['filled']} filled entries" if r else "")
               + f" ({time.perf_counter() - start:.2f} s)")

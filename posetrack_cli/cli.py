"""Command line: parse options -> config -> call the library -> print a summary. Only this module talks to the
terminal; every ``PosetrackError`` becomes one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

import click

from posetrack_cli import __version__
from posetrack_cli.config import OutputConfig, PipelineConfig, TrackConfig
from posetrack_cli.cli_options import csv, detect_config, model_options, pose_config
from posetrack_cli.cli_pose import boxes_options, load_box_source
from posetrack_cli.cli_progress import DownloadBar
from posetrack_cli.errors import InputError, PosetrackError, dependency_failure

EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)
EXIT_INTERNAL = 70  # EX_SOFTWARE: an unexpected error inside posetrack


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that context managers close files and the summary is written (a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""


def build_config(opts: dict) -> PipelineConfig:
    from posetrack_cli.export import FORMAT_NAMES

    formats = csv(opts["format"])
    bad = [f for f in formats if f not in FORMAT_NAMES]
    if bad:
        raise PosetrackError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMAT_NAMES)}")
    track = TrackConfig(memory_frames=opts["memory_frames"], matching=opts["matching"], flow=opts["flow"],
                        flow_scale=opts["flow_scale"], min_track_length=opts["min_track_length"],
                        min_similarity=opts["min_similarity"], box_propagation=opts["box_propagation"],
                        smoothing=opts["smooth"])
    output = OutputConfig(formats=formats, keypoint_threshold=opts["export_kpt_threshold"],
                          box_threshold=opts["export_box_threshold"])
    return PipelineConfig(detect_config(opts), pose_config(opts), track, output, device=opts["device"],
                          frame_batch=opts["frame_batch"], max_frames=opts["max_frames"], prefetch=opts["prefetch"],
                          sequence_fps=opts["fps"], offline=opts["offline"])


class _Group(click.Group):
    """Maps library errors to one line on stderr and an exit code; no traceback except for bugs with -vv."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PosetrackError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: finished frames are kept in the .jsonl stream", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            click.echo("terminated: finished frames are kept in the .jsonl stream", err=True)
            ctx.exit(EXIT_TERMINATED)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a broken dependency, else a bug: one line, the traceback only with -vv
            logging.getLogger("posetrack_cli").debug("unexpected error", exc_info=True)
            dependency = dependency_failure(exc)
            if dependency is not None:
                click.echo(f"error: {dependency}", err=True)
                ctx.exit(dependency.exit_code)
            click.echo(f"internal error: {type(exc).__name__}: {exc}".split("\n")[0]
                       + " (rerun with -vv for the traceback and report it)", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="posetrack")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Find every person in a video, estimate their keypoints and track them with stable ids."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _quiet_opencv(verbose)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)  # stop cleanly: files close, the batch summary is written


@main.command("run")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="tracks.json for one video; an output folder when SOURCE is a folder.")
@click.option("--render", type=click.Path(path_type=Path), default=None,
              help="Write an overlay video (a file for one video, a folder for a folder of videos).")
@model_options
@click.option("--format", "format", default="native", show_default=True,
              help="Comma list of outputs: native, posetrack18, posetrack17, coco.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Process only the first N frames.")
@click.option("--frame-batch", type=click.IntRange(min=1), default=4, show_default=True,
              help="Frames sent through the networks together.")
@click.option("--prefetch", type=click.IntRange(min=0), default=2, show_default=True,
              help="Frame batches decoded ahead / written behind in background threads (0 = off).")
@click.option("--memory-frames", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames of tracking memory (MDPN 8).")
@click.option("--matching", type=click.Choice(["hungarian", "greedy"]), default="hungarian", show_default=True)
@click.option("--flow", type=click.Choice(["dis", "farneback", "none"]), default="dis", show_default=True,
              help="Optical flow that moves remembered poses.")
@click.option("--flow-scale", type=click.FloatRange(0.05, 1), default=0.5, show_default=True,
              help="Frame scale for optical flow.")
@click.option("--min-similarity", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Minimum OKS to continue a track.")
@click.option("--box-propagation", is_flag=True,
              help="Add boxes moved from the previous frame by flow as candidates (Xiao et al.; MDPN: off).")
@click.option("--smooth", is_flag=True, help="One-Euro smoothing of the keypoints along each track (off).")
@click.option("--min-track-length", type=click.IntRange(min=1), default=2, show_default=True,
              help="Prune tracklets shorter than this (MDPN 2).")
@click.option("--export-kpt-threshold", type=click.FloatRange(0, 1), default=0.4, show_default=True,
              help="PoseTrack exports drop keypoints below this score (Simple Baselines 0.4; MOTA counts every "
                   "exported joint).")
@click.option("--export-box-threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="PoseTrack exports drop people whose box score is below this (Simple Baselines 0.5).")
@click.option("--input-type", type=click.Choice(["auto", "video", "frames", "batch"]), default="auto",
              show_default=True, help="SOURCE is a video file, a folder of frames (one image sequence) or a folder "
              "of videos and/or sequence folders (batch); auto guesses.")
@click.option("--fps", type=click.FloatRange(min=0.01, max=1000), default=PipelineConfig.sequence_fps,
              show_default=True,
              help="Frame rate of image sequences (a folder of frames stores none).")
@boxes_options
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Folder mode: only the first N videos/sequences (sorted), e.g. a quick check of a recipe.")
@click.option("--resume", is_flag=True, help="Folder mode: skip videos whose finished output exists and is valid.")
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
              help="Folder mode: run the videos on a Ray cluster (pip install 'posetrack-cli[ray]'); auto = "
                   "RAY_ADDRESS or a new local instance on 127.0.0.1. Same outputs and summary as without it.")
@click.option("--ray-workers", type=click.IntRange(min=1), default=None,
              help="With --ray: worker processes (default: as many as the cluster's CPUs/GPUs allow).")
@click.option("--cpus-per-task", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="With --ray: CPUs reserved by each worker.")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --ray: GPUs reserved by each worker (fractions share a GPU).")
@click.option("--ray-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="With --ray: runs of a video again after its worker process died.")
@click.option("--chunk-frames", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --ray: split videos longer than N frames at keyframes into chunks run in parallel, ids "
                   "re-joined over --memory-frames overlapping frames (0 = off; outputs can then differ at borders).")
@click.option("--ray-dashboard", is_flag=True, help="With --ray auto: start Ray's dashboard (on 127.0.0.1).")
@click.option("--profile", is_flag=True, help="Print the time spent in each stage.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def run_cmd(source: Path, out: Path, render: Path | None, resume: bool, profile: bool, quiet: bool, **opts) -> None:
    """Track the people in a video or a folder of frames, or in every video and sequence folder under a folder."""
    from posetrack_cli.batch import limit_heap_growth, run_batch, run_single
    from posetrack_cli.sequence import input_kind

    input_type = opts.pop("input_type")

    limit_heap_growth()  # memory stays flat on long videos (see benchmarks/bench_memory.py)
    ray = _ray_config(opts)
    config = build_config(opts).with_(time_forwards=profile)
    if not source.exists() and not source.is_symlink():  # probe() names a broken link as such
        raise InputError(f"{source}: no such file or folder; check the path")
    batch, limit = input_kind(source, input_type) == "batch", opts.pop("limit")
    if limit is not None and not batch:
        raise InputError(f"--limit takes the first N videos of a folder; {source} is one input (see --max-frames)")
    if ray is not None and not batch:
        raise InputError(f"--ray runs a folder of videos; {source} is one input (put it in a folder, and use "
                         "--chunk-frames to split a long video)")
    boxes = load_box_source(opts)  # --boxes: supplied person boxes, no detector is loaded
    if batch:
        results = run_batch(source, out, config, render, resume=resume, quiet=quiet, limit=limit,
                            boxes=boxes, ray=ray, download=None if quiet else DownloadBar())
    else:
        results = [run_single(source, out, config, render, quiet=quiet, boxes=boxes,
                              download=None if quiet else DownloadBar())]
    _print_summary(results, profile)
    if boxes is not None and ray is None and boxes.unused_note():  # Ray workers use their own copies of the boxes
        click.echo(boxes.unused_note())
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _ray_config(opts: dict):
    """The --ray options (removed from ``opts``) as a RayConfig, or None without --ray."""
    names = ("ray_address", "ray_workers", "cpus_per_task", "gpus_per_task", "ray_retries", "chunk_frames",
             "ray_dashboard")
    values = {name: opts.pop(name) for name in names}
    if values["ray_address"] is None:
        return None
    from posetrack_cli.distributed import RayConfig, check_ray

    check_ray()  # one line when Ray is not installed, before anything runs
    return RayConfig(address=values["ray_address"], cpus_per_task=values["cpus_per_task"],
                     gpus_per_task=values["gpus_per_task"], workers=values["ray_workers"],
                     retries=values["ray_retries"], chunk_frames=values["chunk_frames"],
                     dashboard=values["ray_dashboard"])


def _print_summary(results, profile: bool) -> None:
    from posetrack_cli.batch import format_summary

    for line in format_summary(results, profile):
        click.echo(line)


@main.command("render")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("tracks", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Overlay video to write (.mp4/.avi).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after N frames.")
def render_cmd(video: Path, tracks: Path, out: Path, max_frames: int | None) -> None:
    """Draw the poses and ids of a tracks.json onto its video."""
    from posetrack_cli.export.native import frame_from_dict
    from posetrack_cli.render import render_video
    from posetrack_cli.video import probe

    info = probe(video)
    try:
        doc = json.loads(tracks.read_text(encoding="utf-8"))
        skeleton = doc["models"]["skeleton"]
        frames = doc["frames"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{tracks}: not a posetrack tracks.json ({type(exc).__name__}: {exc})") from None
    if info.kind == "frames" and isinstance(doc.get("video"), dict) and doc["video"].get("fps"):
        info = probe(video, float(doc["video"]["fps"]))  # a folder of frames: the rate the run used (--fps)
    n = render_video(info, (frame_from_dict(f, skeleton) for f in frames), out, max_frames=max_frames)
    click.echo(f"wrote {out} ({n} frames at {info.fps:g} fps)")


def _quiet_opencv(verbose: int) -> None:
    """OpenCV's own stderr lines ("[ERROR:0@0.1] global cap_ffmpeg_impl.hpp ... Could not find decoder") would
    follow our one-line errors; they are shown only with -vv."""
    import os

    if verbose < 2:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET for the FFmpeg inside OpenCV
    try:
        import cv2
    except ImportError:
        return  # a broken OpenCV: the command that needs it says so in one line, `posetrack doctor` reports it

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO if verbose >= 2
                                  else cv2.utils.logging.LOG_LEVEL_SILENT)


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _register_subcommands() -> None:
    from posetrack_cli.cli_doctor import doctor_cmd
    from posetrack_cli.cli_eval import eval_cmd
    from posetrack_cli.cli_pose import pose_cmd
    from posetrack_cli.cli_train import train_cmd
    from posetrack_cli.cli_weights import weights

    main.add_command(doctor_cmd)
    main.add_command(eval_cmd)
    main.add_command(pose_cmd)
    main.add_command(train_cmd)
    main.add_command(weights)


_register_subcommands()

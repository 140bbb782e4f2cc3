"""``posetrack run``: track the people in a video, an image sequence or every video of a folder."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
from click.core import ParameterSource

from posetrack_cli.cli.options import boxes_options, csv, detect_config, load_box_source, model_options, pose_config
from posetrack_cli.cli.progress import DownloadBar, FrameBar, VideoBars
from posetrack_cli.cli.refine import refine_config, refine_options
from posetrack_cli.cli.report import echo_report
from posetrack_cli.cli.summary import format_summary
from posetrack_cli.config import (FLOW_THREAD_SETTINGS, PRESETS, DetectConfig, LiveConfig, OutputConfig,
                                  PipelineConfig, PoseConfig, TrackConfig)
from posetrack_cli.errors import InputError, PosetrackError
from posetrack_cli.export import FORMAT_NAMES
from posetrack_cli.io.sources import INPUT_TYPES, input_kind
from posetrack_cli.io.stream import is_live
from posetrack_cli.pipeline import VideoResult
from posetrack_cli.runs.folder import run_batch
from posetrack_cli.runs.live import run_live
from posetrack_cli.runs.memory import limit_heap_growth
from posetrack_cli.runs.ray_config import RayConfig, check_ray
from posetrack_cli.runs.ray_executor import RayExecutor
from posetrack_cli.runs.report import report_run
from posetrack_cli.runs.video import run_single
from posetrack_cli.track.assignment import MATCHERS
from posetrack_cli.track.boxprop import PROPAGATED_BOXES
from posetrack_cli.track.propagate import PROPAGATORS
from posetrack_cli.track.similarity import SIMILARITIES

_PIPELINE, _TRACK, _OUTPUT, _RAY = PipelineConfig(), TrackConfig(), OutputConfig(), RayConfig()
_DETECT, _POSE, _LIVE = DetectConfig(), PoseConfig(), LiveConfig()


def build_config(opts: dict) -> PipelineConfig:
    """The ``run`` options as the library's ``PipelineConfig`` (every default comes from the config classes)."""
    formats = csv(opts["format"])
    bad = [f for f in formats if f not in FORMAT_NAMES]
    if bad:
        raise PosetrackError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMAT_NAMES)}")
    track = TrackConfig(memory_frames=opts["memory_frames"], matching=opts["matching"], flow=opts["flow"],
                        flow_scale=opts["flow_scale"], min_track_length=opts["min_track_length"],
                        similarity=opts["similarity"], min_similarity=opts["min_similarity"],
                        box_propagation=opts["box_propagation"], propagated_box=opts["propagated_box"],
                        smoothing=opts["smooth"],
                        flow_check=opts["flow_check"])
    output = OutputConfig(formats=formats, keypoint_threshold=opts["export_kpt_threshold"],
                          box_threshold=opts["export_box_threshold"])
    detect = replace(detect_config(opts), every=opts["detect_every"])
    pose = pose_config(opts, crop_size=opts["crop_size"])
    return PipelineConfig(detect, pose, track, output, device=opts["device"],
                          frame_batch=opts["frame_batch"], max_frames=opts["max_frames"], prefetch=opts["prefetch"],
                          flow_thread=opts["flow_thread"], sequence_fps=opts["fps"], offline=opts["offline"])


def _preset_text(name: str) -> str:
    """A preset's options as they would be typed."""
    return ", ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in PRESETS[name].items())


@click.command("run")
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="tracks.json for one video; an output folder when SOURCE is a folder.")
@click.option("--render", type=click.Path(path_type=Path), default=None,
              help="Write an overlay video (a file for one video, a folder for a folder of videos).")
@model_options
@click.option("--format", "format", default=",".join(_OUTPUT.formats), show_default=True,
              help=f"Comma list of outputs: {', '.join(FORMAT_NAMES)}.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Process only the first N frames.")
@click.option("--frame-batch", type=click.IntRange(min=1), default=_PIPELINE.frame_batch, show_default=True,
              help="Frames sent through the networks together.")
@click.option("--prefetch", type=click.IntRange(min=0), default=_PIPELINE.prefetch, show_default=True,
              help="Frame batches decoded ahead / written behind in background threads (0 = off).")
@click.option("--flow-thread", type=click.Choice(FLOW_THREAD_SETTINGS), default=_PIPELINE.flow_thread,
              show_default=True,
              help="Files: optical flow of the next frames on a worker thread while the networks run (same results); "
              "auto: on when it has a core to itself (GPU, or a CPU core PyTorch leaves free).")
@click.option("--memory-frames", type=click.IntRange(min=1), default=_TRACK.memory_frames, show_default=True,
              help="Frames of tracking memory (MDPN 8).")
@click.option("--matching", type=click.Choice(list(MATCHERS)), default=_TRACK.matching, show_default=True,
              help="How new poses are assigned to tracks (MDPN: Hungarian).")
@click.option("--flow", type=click.Choice(list(PROPAGATORS)), default=_TRACK.flow, show_default=True,
              help="Optical flow that moves remembered poses.")
@click.option("--flow-scale", type=click.FloatRange(0.05, 1), default=_TRACK.flow_scale, show_default=True,
              help="Frame scale for optical flow.")
@click.option("--similarity", type=click.Choice(list(SIMILARITIES)), default=_TRACK.similarity, show_default=True,
              help="How a new pose is compared with a remembered one: OKS (MDPN) or box IoU.")
@click.option("--min-similarity", type=click.FloatRange(0, 1), default=_TRACK.min_similarity, show_default=True,
              help="Minimum similarity to continue a track.")
@click.option("--box-propagation", is_flag=True, default=_TRACK.box_propagation,
              help="Add boxes moved from the previous frame by flow as candidates (Xiao et al.; MDPN: off).")
@click.option("--propagated-box", type=click.Choice(PROPAGATED_BOXES), default=_TRACK.propagated_box,
              show_default=True,
              help="Shape of a propagated box: joints (Xiao et al.: the moved joints' extent + 15 %) or box (the "
                   "track's last box moved with its joints, then re-centred on the pose found in it).")
@click.option("--smooth", is_flag=True, default=_TRACK.smoothing,
              help="One-Euro smoothing of the keypoints along each track (off).")
@click.option("--min-track-length", type=click.IntRange(min=1), default=_TRACK.min_track_length, show_default=True,
              help="Prune tracklets shorter than this (MDPN 2).")
@click.option("--export-kpt-threshold", type=click.FloatRange(0, 1), default=_OUTPUT.keypoint_threshold,
              show_default=True,
              help="PoseTrack exports drop keypoints below this score (Simple Baselines 0.4; MOTA counts every "
                   "exported joint).")
@click.option("--export-box-threshold", type=click.FloatRange(0, 1), default=_OUTPUT.box_threshold, show_default=True,
              help="PoseTrack exports drop people whose box score is below this (Simple Baselines 0.5).")
@click.option("--input-type", type=click.Choice(INPUT_TYPES), default=INPUT_TYPES[0],
              show_default=True, help="SOURCE is a video file, a folder of frames (one image sequence), a folder "
              "of videos and/or sequence folders (batch) or a live stream (a camera or URL; a video file given as "
              "a stream is replayed at its own frame rate, dropping frames the pipeline cannot keep up with); auto "
              "guesses.")
@click.option("--fps", type=click.FloatRange(min=0.01, max=1000), default=_PIPELINE.sequence_fps,
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
@click.option("--cpus-per-task", type=click.FloatRange(min=0.01), default=_RAY.cpus_per_task, show_default=True,
              help="With --ray: CPUs reserved by each worker, and its PyTorch threads.")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=_RAY.gpus_per_task, show_default=True,
              help="With --ray: GPUs reserved by each worker (fractions share a GPU).")
@click.option("--ray-retries", type=click.IntRange(min=0), default=_RAY.retries, show_default=True,
              help="With --ray: runs of a video again after its worker process died.")
@click.option("--chunk-frames", type=click.IntRange(min=0), default=_RAY.chunk_frames, show_default=True,
              help="With --ray: split videos longer than N frames at keyframes into chunks run in parallel, ids "
                   "re-joined over --memory-frames overlapping frames (0 = off; outputs can then differ at borders).")
@click.option("--ray-dashboard", is_flag=True, default=_RAY.dashboard,
              help="With --ray auto: start Ray's dashboard (on 127.0.0.1).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="accurate", show_default=True,
              help="accurate: the papers' method (every default below). realtime: " + _preset_text("realtime")
              + " (options given explicitly win).")
@click.option("--detect-every", type=click.IntRange(min=1), default=_DETECT.every, show_default=True,
              help="Run the detectors on every k-th frame; between them, the tracked poses' boxes moved by flow.")
@click.option("--crop-size", type=click.IntRange(min=32), default=_POSE.crop_size, show_default=True,
              help="Crop height in pixels for the yolo-crop pose estimator.")
@click.option("--reconnect/--no-reconnect", default=_LIVE.reconnect, show_default=True,
              help="Stream: reopen a stream that ends or stalls, with backoff (one line each time).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stream: stop after this many seconds (default: when the stream ends, or Ctrl-C / SIGTERM).")
@click.option("--segment", type=click.FloatRange(min=1), default=None,
              help="Stream: new output files (and overlay) every SECONDS: OUT-0000.json, OUT-0001.json, ...")
@click.option("--show", is_flag=True, default=_LIVE.show,
              help="Stream: show the overlay in a window as it goes (needs a display; q or Esc stops the run).")
@refine_options
@click.option("--profile", is_flag=True, help="Print the time spent in each stage.")
@click.option("--report", "report", is_flag=True,
              help="Also write an HTML report to look at the run (tracks.html beside tracks.json; for a folder, "
                   "index.html beside summary.json); see posetrack report.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def run_cmd(source: str, out: Path, render: Path | None, resume: bool, profile: bool, quiet: bool, report: bool,
            **opts) -> None:
    """Track the people in a video or a folder of frames, in every video and sequence folder under a folder, or in
    a camera (0, /dev/video0) or stream URL (rtsp, rtmp, http(s), tcp, udp) until it ends or Ctrl-C."""
    input_type = opts.pop("input_type")
    apply_preset(opts, opts.pop("preset"))
    live = live_config_from(opts)
    limit_heap_growth()  # memory stays flat on long videos (see benchmarks/bench_memory.py)
    ray = ray_config_from(opts)
    config = build_config(opts).with_(time_forwards=profile, refine=refine_config(opts))
    if input_kind(source, input_type) == "stream":
        if click.get_current_context().get_parameter_source("refine") in (ParameterSource.DEFAULT, None):
            config = config.with_(refine=replace(config.refine, enabled=False))  # live: off unless --refine
        result = _run_stream(source, out, config, live, render, opts, quiet, profile, pace=not is_live(source))
        if report:
            echo_report(report_run([result], out, False))
        return
    if live != LiveConfig():
        raise InputError(f"--reconnect, --duration, --segment and --show apply to streams; {source} is not one (add "
                         "--input-type stream to replay a video file live)")
    source = Path(source)
    if not source.exists() and not source.is_symlink():  # probe() names a broken link as such
        raise InputError(f"{source}: no such file or folder; check the path")
    batch, limit = input_kind(source, input_type) == "batch", opts.pop("limit")
    if limit is not None and not batch:
        raise InputError(f"--limit takes the first N videos of a folder; {source} is one input (see --max-frames)")
    if ray is not None and not batch:
        raise InputError(f"--ray runs a folder of videos; {source} is one input (put it in a folder, and use "
                         "--chunk-frames to split a long video)")
    boxes = load_box_source(opts)  # --boxes: supplied person boxes, no detector is loaded
    download = None if quiet else DownloadBar()  # weights downloaded on first use
    if batch and ray is not None:  # the same videos, outputs, resume and summary, run by workers of a Ray cluster
        results = run_batch(source, out, config, render, resume, FrameBar(quiet), RayExecutor(ray), limit, boxes)
    elif batch:
        results = run_batch(source, out, config, render, resume, VideoBars(quiet), None, limit, boxes, download)
    else:
        results = [run_single(source, out, config, render, VideoBars(quiet), boxes, download)]
    _print_summary(results, profile)
    if report:
        echo_report(report_run(results, out, batch))
    if boxes is not None and ray is None and boxes.unused_note():  # Ray workers use their own copies of the boxes
        click.echo(boxes.unused_note())
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def apply_preset(opts: dict, preset: str) -> None:
    """Set the preset's option values in ``opts`` where the option was not given on the command line."""
    ctx = click.get_current_context()
    for name, value in PRESETS[preset].items():
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            opts[name] = value


def live_config_from(opts: dict) -> LiveConfig:
    """The stream options (removed from ``opts``) as a LiveConfig."""
    return LiveConfig(reconnect=opts.pop("reconnect"), duration_s=opts.pop("duration"),
                      segment_s=opts.pop("segment"), show=opts.pop("show"))


def _run_stream(source: str, out: Path, config: PipelineConfig, live: LiveConfig, render: Path | None, opts: dict,
                quiet: bool, profile: bool, pace: bool) -> VideoResult:
    """A camera, a stream URL, or a file replayed live (``pace``) until it ends, --duration, Ctrl-C or SIGTERM."""
    for name in ("boxes", "limit", "resume"):
        if opts.get(name):
            raise InputError(f"--{name} does not apply to a live stream")
    if not pace and out.suffix.lower() != ".json" and not out.is_dir():
        raise InputError(f"--out {out}: give a .json file (or a folder) for a stream's tracks")
    result = run_live(source, out, config, live, render, FrameBar(quiet), None if quiet else DownloadBar(),
                      pace=pace)
    _print_summary([result], profile)
    return result


def ray_config_from(opts: dict):
    """The --ray options (removed from ``opts``) as a RayConfig, or None without --ray."""
    names = ("ray_address", "ray_workers", "cpus_per_task", "gpus_per_task", "ray_retries", "chunk_frames",
             "ray_dashboard")
    values = {name: opts.pop(name) for name in names}
    if values["ray_address"] is None:
        return None
    check_ray()  # one line when Ray is not installed, before anything runs
    return RayConfig(address=values["ray_address"], cpus_per_task=values["cpus_per_task"],
                     gpus_per_task=values["gpus_per_task"], workers=values["ray_workers"],
                     retries=values["ray_retries"], chunk_frames=values["chunk_frames"],
                     dashboard=values["ray_dashboard"])


def _print_summary(results, profile: bool) -> None:
    for line in format_summary(results, profile):
        click.echo(line)



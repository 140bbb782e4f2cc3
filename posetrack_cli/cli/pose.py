"""``posetrack pose``: still images -> COCO keypoint results (detection or supplied boxes + pose, no tracking).

Registered by the main CLI with ``main.add_command(pose_cmd)``; bad inputs raise ``InputError`` (one line, exit code).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from posetrack_cli.cli.options import boxes_options, detect_config, load_box_source, model_options, pose_config
from posetrack_cli.cli.progress import DownloadBar
from posetrack_cli.config import PipelineConfig, PoseConfig
from posetrack_cli.detect.supplied import load_image_ids
from posetrack_cli.export.coco import write_results_list
from posetrack_cli.pipeline import build_stages
from posetrack_cli.runs.outputs import check_writable
from posetrack_cli.runs.stills import DEFAULT_BOX_THRESHOLD, images_from_annotation, images_from_paths, run_stills


def _config(opts: dict) -> PipelineConfig:
    """The ``pose`` options as the library's ``PipelineConfig`` (every default comes from the config classes)."""
    return PipelineConfig(detect_config(opts), pose_config(opts, min_pose_score=opts["min_pose_score"]),
                          device=opts["device"], frame_batch=opts["image_batch"], offline=opts["offline"])


def _images(inputs: tuple[Path, ...], image_root: Path | None, image_ids: Path | None):
    """(images, the image id list for supplied boxes) from files/folders or one COCO annotation file."""
    if len(inputs) == 1 and inputs[0].suffix.lower() == ".json":
        return images_from_annotation(inputs[0], image_root)
    ids = load_image_ids(image_ids)
    return images_from_paths(list(inputs), ids), ids


@click.command("pose")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="COCO keypoint results JSON to write.")
@click.option("--image-root", type=click.Path(path_type=Path), default=None,
              help="Image folder when IMAGES is a COCO annotation file (its images[].file_name are under it).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images (a quick check).")
@boxes_options
@model_options
@click.option("--min-pose-score", type=click.FloatRange(0, 1), default=PoseConfig().min_pose_score, show_default=True,
              help="Drop poses whose re-scored score is below this (MMPose's COCO evaluation keeps all: 0).")
@click.option("--box-threshold", type=click.FloatRange(0, 1), default=DEFAULT_BOX_THRESHOLD, show_default=True,
              help="Leave people whose box score is below this out of the results.")
@click.option("--image-batch", type=click.IntRange(min=1), default=PipelineConfig().frame_batch, show_default=True,
              help="Images sent through detection and pose together.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def pose_cmd(images: tuple[Path, ...], out: Path, image_root: Path | None, limit: int | None, box_threshold: float,
             quiet: bool, **opts) -> None:
    """Estimate the poses in still images (no tracking) and write COCO keypoint results."""
    config = _config(opts)
    listed, ids = _images(images, image_root, opts.get("image_ids"))
    listed = listed[:limit] if limit else listed
    boxes = load_box_source(opts, image_ids=ids)
    check_writable(out.parent)
    stages = build_stages(config, boxes, None if quiet else DownloadBar())
    run = _run_with_bar(listed, stages, config.frame_batch, box_threshold, quiet)
    write_results_list(out, run.results)
    for path, why in run.failed:
        click.echo(f"failed: {path}: {why}", err=True)
    rate = run.images / run.seconds if run.seconds else 0.0
    click.echo(f"pose: {run.images} images ({len(run.failed)} failed), {run.people} people, {run.seconds:.1f} s, "
               f"{rate:.2f} images/s -> {out}")
    if boxes is not None and boxes.unused_note():
        click.echo(boxes.unused_note())
    if run.failed:
        sys.exit(1)


def _run_with_bar(listed, stages, batch: int, box_threshold: float, quiet: bool):
    from tqdm import tqdm


    with tqdm(total=len(listed), unit="image", desc="pose", disable=quiet, dynamic_ncols=True) as bar:
        return run_stills(listed, stages, batch, box_threshold, bar.update)


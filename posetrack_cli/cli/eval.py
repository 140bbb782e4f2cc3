"""``posetrack eval``: PoseTrack mAP + MOTA of a prediction folder, or COCO keypoint AP of a results file.

Registered by the main CLI with ``main.add_command(eval_cmd)``; bad inputs raise ``InputError`` (one line, exit code).
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.coco import evaluate_coco_keypoints, format_coco_table
from posetrack_cli.evaluate.posetrack import evaluate_posetrack, format_table
from posetrack_cli.io.files import write_json


def _jsonable(value):
    """NaN / inf -> null (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _coverage_note(covered: int, total: int, what: str, only_covered: bool) -> None:
    if covered < total:
        click.echo(f"evaluated on the {covered} of {total} {what} that have predictions (--only-covered)" if
                   only_covered else f"note: predictions cover {covered} of {total} {what}; the others count as "
                   "misses (--only-covered scores only those with predictions, e.g. after a --limit run)")


@click.command("eval")
@click.option("--gt", "gt", type=click.Path(path_type=Path), default=None,
              help="Ground-truth folder: one PoseTrack 2017 or 2018 JSON per sequence.")
@click.option("--pred", "pred", type=click.Path(path_type=Path), required=True,
              help="Prediction folder (a `posetrack run` output folder with PoseTrack exports, or files named as in "
                   "--gt), or a COCO results JSON with --coco.")
@click.option("--coco", "coco", type=click.Path(path_type=Path), default=None,
              help="COCO keypoint annotation JSON: evaluate --pred as COCO keypoint results (pycocotools).")
@click.option("--only-covered", is_flag=True,
              help="Score only the images (COCO) or sequences (PoseTrack) that have predictions, e.g. after a --limit "
                   "run. Default, as the official evaluators: all of the ground truth, the rest counting as misses.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write every metric to this JSON file.")
def eval_cmd(gt: Path | None, pred: Path, coco: Path | None, only_covered: bool, json_out: Path | None) -> None:
    """Score predictions: PoseTrack mAP and MOTA (as the official poseval), or COCO keypoint AP."""
    if (gt is None) == (coco is None):
        raise InputError("give either --gt GT_DIR (PoseTrack) or --coco GT.json (COCO keypoints), with --pred")
    if coco is not None:

        if not pred.is_file():
            raise InputError(f"{pred}: COCO results file not found")
        result = evaluate_coco_keypoints(coco, pred, only_covered=only_covered)
        table = format_coco_table(result)
        _coverage_note(result["images_covered"], result["images_total"], "images", only_covered)
    else:

        result = evaluate_posetrack(gt, pred, only_covered)
        table = format_table(result)
        _coverage_note(result["sequences"], result["sequences_total"], "sequences", only_covered)
        table += f"\n({result['sequences']} sequences, {result['frames']} labelled frames)"
    click.echo(table)
    if json_out is not None:
        write_json(json_out, _jsonable(result), indent=1, newline=True)
        click.echo(f"metrics written to {json_out}")

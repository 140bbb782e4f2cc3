"""COCO keypoint AP through pycocotools (``COCOeval`` with ``iouType="keypoints"``), its prints captured."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

from posetrack_cli.errors import InputError
from posetrack_cli.io.files import read_json

log = logging.getLogger(__name__)

# pycocotools COCOeval.summarize() for keypoints: the order of ``stats``.
STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")


def evaluate_coco_keypoints(gt_json: str | os.PathLike, results_json: str | os.PathLike,
                            image_ids: list[int] | None = None, only_covered: bool = False) -> dict:
    """COCO keypoint AP/AR of a results file against a COCO keypoint annotation file.

    ``image_ids``: evaluate only these images (default: every image of the annotation file, so images without
    results count as misses, as on the COCO server). ``only_covered``: evaluate only the images that have results
    (a ``--limit`` run; pycocotools ``params.imgIds``). Returns {"stats": {AP, AP .5, ... AR (L)}, "summary": the
    text pycocotools prints, "images": images evaluated, "images_covered": images that have results, "images_total":
    images in the annotation file}.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_path, res_path = Path(gt_json), Path(results_json)
    gt = read_json(gt_path, "COCO annotation file")
    results = read_json(res_path, "COCO results file")
    if not isinstance(gt, dict) or "annotations" not in gt or "images" not in gt:
        raise InputError(f"{gt_path}: not a COCO annotation file (needs 'images' and 'annotations')")
    if not isinstance(results, list) or not results:
        raise InputError(f"{res_path}: a COCO results file is a non-empty list of "
                         "{image_id, category_id, keypoints, score}")
    known = {im["id"] for im in gt["images"]}
    unknown = sorted({r.get("image_id") for r in results} - known, key=str)
    if unknown:
        raise InputError(f"{res_path}: image ids {unknown[:5]} are not in {gt_path}; write results with the "
                         "annotation file's image ids")
    covered = sorted({r["image_id"] for r in results})
    if only_covered and image_ids is None:
        image_ids = covered
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), iouType="keypoints")
        if image_ids is not None:
            evaluator.params.imgIds = sorted(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    summary = buf.getvalue()
    log.debug("pycocotools output:\n%s", summary)
    return {"stats": {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}, "summary": summary,
            "images": len(evaluator.params.imgIds), "images_covered": len(covered), "images_total": len(known)}


def format_coco_table(result: dict) -> str:
    stats = result["stats"]
    header = " | ".join(f"{name:>6}" for name in stats)
    values = " | ".join(f"{100 * v:6.1f}" for v in stats.values())
    return f"COCO keypoint metrics (%):\n{header}\n{values}"

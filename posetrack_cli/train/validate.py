"""Validation during training: predict every annotated person of a dataset from its ground-truth box (no
augmentation) and score the predictions with the dataset's metric -- COCO keypoint AP (pycocotools), MPII PCKh@0.5
(evaluate/pckh.py) or PoseTrack mAP (evaluate/posetrack.py).

Ground-truth boxes, not detections: the number tracks training progress; the detector-box protocol of the papers is
``posetrack evaluate`` on the output of ``posetrack run``. Decoding is the test-time one (pose/decode.py: 5x5 blur,
arg-max, quarter offset, ``4 x + 2``, inverse crop warp, score = value / 255 + 0.5), without flip test.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.coco import evaluate_coco_keypoints
from posetrack_cli.evaluate.pckh import pckh
from posetrack_cli.evaluate.posetrack import evaluate_posetrack
from posetrack_cli.pose.crops import invert_warps
from posetrack_cli.pose.decode import decode_to_frame
from posetrack_cli.records import COCO17, PT18_SLOTS
from posetrack_cli.train.datasets import PersonSet
from posetrack_cli.train.model import final_heatmaps
from posetrack_cli.train.samples import MixedSampler, TrainSamples, worker_init

log = logging.getLogger(__name__)

METRIC_OF_FORMAT = {"coco": "coco_ap", "mpii": "pckh", "posetrack18": "posetrack_map"}
DECODE_BLUR = 5  # megvii MSPN test: 5x5 Gaussian on each map before the arg-max (COCO)


@torch.no_grad()
def predict_people(model: torch.nn.Module, samples: TrainSamples, domain: str, device: torch.device,
                   batch_size: int, amp: bool = False, workers: int = 0) -> np.ndarray:
    """Every person of ``samples`` (one set, eval crops) -> (N, K, 3) keypoints in frame pixels + score."""
    sampler = MixedSampler([len(samples.sets[0])], [1.0], seed=0, shuffle=False)
    loader = DataLoader(samples, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        worker_init_fn=worker_init)
    was_training = model.training
    model.eval()
    out = []
    try:
        for batch in loader:
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                maps = final_heatmaps(model, batch["image"].to(device, non_blocking=True), domain)
            inverse = torch.from_numpy(invert_warps(batch["warp"].numpy())).to(maps.device, torch.float32)
            kps = decode_to_frame(maps.float(), inverse, samples.input_size, blur_kernel=DECODE_BLUR)
            out.append(kps.cpu().numpy().astype(np.float32))
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, samples.sets[0].skeleton.num_keypoints, 3), np.float32)


def coco_ap(people: PersonSet, preds: np.ndarray, annotations: str) -> dict:
    """COCO keypoint AP of the predictions over the images that hold validation people (evaluate/coco.py;
    skeletons other than COCO-17 go to pycocotools directly with their own OKS sigmas)."""
    doc = json.loads(Path(annotations).read_text(encoding="utf-8"))
    cat_id = next(c["id"] for c in doc["categories"] if c.get("keypoints"))
    results = [{"image_id": int(people.image_ids[i]), "category_id": cat_id,
                "keypoints": [float(v) for v in preds[i].reshape(-1)],
                "score": float(preds[i, :, 2].mean())} for i in range(len(preds))]
    image_ids = sorted({int(i) for i in people.image_ids})
    if not results:
        return {"AP": 0.0}
    if people.skeleton is COCO17:

        with tempfile.TemporaryDirectory(prefix="posetrack-val-") as tmp:
            path = Path(tmp, "results.json")
            path.write_text(json.dumps(results), encoding="utf-8")
            return evaluate_coco_keypoints(annotations, path, image_ids)["stats"]
    return _coco_ap_custom(doc, results, image_ids, people.skeleton.sigmas)


def _coco_ap_custom(doc: dict, results: list[dict], image_ids: list[int], sigmas) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        gt = COCO()
        gt.dataset = doc
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
    return {n: float(v) for n, v in zip(names, ev.stats)}


def mpii_pckh(people: PersonSet, preds: np.ndarray) -> dict:
    """PCKh@0.5 over annotated joints; needs the head boxes (``headbox`` in the MPII JSON)."""
    if np.isnan(people.head_boxes_xyxy).any():
        raise InputError("PCKh needs a 'headbox' [x1, y1, x2, y2] for every MPII validation person "
                         "(from mpii_gt_val.mat); add it to the JSON or validate on COCO/PoseTrack")
    result = pckh(preds[:, :, :2], people.keypoints[:, :, :2], people.keypoints[:, :, 2] > 0, people.head_boxes_xyxy)
    return {"PCKh": result["mean"], **{f"PCKh_{k}": v for k, v in result["groups"].items()}}


def posetrack_map(people: PersonSet, preds: np.ndarray, annotations: str) -> dict:
    """PoseTrack mAP (evaluate/posetrack.py): one prediction file per sequence, the GT file with its people's
    keypoints replaced by the predictions (same track ids: only the AP part is meaningful)."""
    source = Path(annotations)
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    by_ann = {int(a): i for i, a in enumerate(people.ann_ids)}
    with tempfile.TemporaryDirectory(prefix="posetrack-val-") as tmp:
        gt_dir, pred_dir = Path(tmp, "gt"), Path(tmp, "pred")
        gt_dir.mkdir()
        pred_dir.mkdir()
        for file in files:
            doc = json.loads(file.read_text(encoding="utf-8"))
            (gt_dir / file.name).write_text(json.dumps(doc), encoding="utf-8")
            predicted = []
            for ann in doc["annotations"]:
                row = by_ann.get(int(ann.get("id", -1)))
                if row is None:
                    continue
                kps, scores = np.zeros((17, 3)), np.zeros(17)
                kps[list(PT18_SLOTS), :2] = preds[row, :, :2]
                kps[list(PT18_SLOTS), 2] = 1
                scores[list(PT18_SLOTS)] = preds[row, :, 2]
                predicted.append({**ann, "keypoints": kps.reshape(-1).tolist(), "scores": scores.tolist()})
            (pred_dir / file.name).write_text(json.dumps({**doc, "annotations": predicted}), encoding="utf-8")
        result = evaluate_posetrack(gt_dir, pred_dir)
    return {"mAP": float(result["ap"]["groups"]["Total"]),
            **{f"AP_{k}": float(v) for k, v in result["ap"]["groups"].items() if k != "Total"}}


def evaluate(model, samples: TrainSamples, fmt: str, metric: str, annotations: str, domain: str,
             device: torch.device, batch_size: int, amp: bool = False, workers: int = 0) -> dict:
    """Predict and score one validation set; returns {metric name: value, ..., "metric": main value}."""
    metric = METRIC_OF_FORMAT[fmt] if metric == "auto" else metric
    preds = predict_people(model, samples, domain, device, batch_size, amp, workers)
    people = samples.sets[0]
    if metric == "coco_ap":
        scores = coco_ap(people, preds, annotations)
        main = scores["AP"]
    elif metric == "pckh":
        scores = mpii_pckh(people, preds)
        main = scores["PCKh"]
    else:
        scores = posetrack_map(people, preds, annotations)
        main = scores["mAP"]
    return {**scores, "metric": main, "metric_name": metric}

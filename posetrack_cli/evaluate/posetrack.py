"""PoseTrack mAP and MOTA computed as the official ``poseval`` computes them (POSETRACK_EVAL.md), quirks included.

Per frame (poseval ``assignGTmulti``): distances are normalised by the GT head size (0.6 x head-box diagonal), a joint
matches within 0.5; each prediction keeps its best GT by PCKh, each GT then its best prediction. AP per joint is the
VOC all-points area over score-sorted joints; MOTA per joint comes from ``motmetrics.MOTAccumulator`` fed with track
ids and matched distances, the last frame of every sequence left out, and a frame without predictions (or without GT
people) fed as one object + one hypothesis that never match. ``poseval`` MOTP sums ``acc.events['D']``, which since
motmetrics 1.2 also holds RAW/TRANSFER rows; it is reproduced as is and only MOTA is comparable across versions.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import motmetrics as mm
import numpy as np

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.hota import evaluate_hota
from posetrack_cli.evaluate.posetrack_io import MAX_TRACK_ID, NUM_JOINTS, Person, Sequence, load_sequences

log = logging.getLogger(__name__)

DIST_THRESHOLD = 0.5  # poseval evaluateAP/evaluateTracking distThresh (PCKh@0.5)
JOINT_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
               "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "nose",
               "head_top")
# poseval eval_helpers.getCum: printed columns and the joints each one averages.
GROUPS = (("Head", (14, 12, 13)), ("Shoulder", (8, 9)), ("Elbow", (7, 10)), ("Wrist", (6, 11)), ("Hip", (2, 3)),
          ("Knee", (1, 4)), ("Ankle", (0, 5)))
MOT_COUNTS = ("num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections",
              "idtp", "idfn", "idfp")  # the last three: motmetrics' identity counts (IDF1), beside poseval's


@dataclass
class FrameMatch:
    """What one frame contributes: per joint (score, is-true-positive) of every predicted joint, the number of GT
    joints, and the MOT input (GT ids, predicted ids, distance matrix GT x prediction, NaN = no match)."""

    scores: list[np.ndarray]  # 15 x (n_j,)
    labels: list[np.ndarray]  # 15 x (n_j,) bool
    num_gt: np.ndarray  # (15,)
    mot: list[tuple[list[int], list[int], np.ndarray]]
    dummy_mot: bool = False  # the frame had no predictions or no GT people: ids are poseval's literal 0, no offset


def _stack(people: list[Person]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has, xy, score = np.zeros((len(people), NUM_JOINTS), bool), np.zeros((len(people), NUM_JOINTS, 2)), \
        np.full((len(people), NUM_JOINTS), np.nan)
    for i, person in enumerate(people):
        has[i], xy[i], score[i] = person.joints()
    return has, xy, score


def head_sizes(gt: list[Person]) -> np.ndarray:
    """0.6 x head-box diagonal per GT person (poseval ``getHeadSize``)."""
    if any(p.head_box is None for p in gt):
        raise InputError("a ground-truth person has no head box (PT17 x1/y1/x2/y2, PT18 bbox_head); "
                         "the PCKh distance needs it")
    boxes = np.array([p.head_box for p in gt], np.float64)
    return 0.6 * np.linalg.norm(boxes[:, 2:4] - boxes[:, 0:2], axis=1)


def _best_gt_per_prediction(match: np.ndarray, gt_has: np.ndarray) -> np.ndarray:
    """(P,) GT index each prediction is assigned to, -1 for none: each prediction keeps its best GT by PCKh, each
    GT then takes its best prediction (first index on ties, nothing when the best PCKh is 0)."""
    pck = match.sum(2).astype(np.float64)
    n_gt = gt_has.sum(1)
    pck[:, n_gt > 0] /= n_gt[n_gt > 0]
    rows = np.arange(len(pck))
    best = np.zeros_like(pck)
    best[rows, pck.argmax(1)] = pck[rows, pck.argmax(1)]
    pred_of_gt = best.argmax(0)
    pred_of_gt[best.max(0) == 0] = -1
    gt_of_pred = np.full(len(pck), -1)
    for g, p in enumerate(pred_of_gt):
        if p >= 0:
            gt_of_pred[p] = g
    return gt_of_pred


def _mot_inputs(gt, pr, gt_has, pr_has, dist, match) -> list[tuple[list[int], list[int], np.ndarray]]:
    mot = []
    for j in range(NUM_JOINTS):
        g_rows, p_rows = np.flatnonzero(gt_has[:, j]), np.flatnonzero(pr_has[:, j])
        d = dist[np.ix_(p_rows, g_rows, [j])][..., 0].T
        m = match[np.ix_(p_rows, g_rows, [j])][..., 0].T
        mot.append(([gt[i].track_id for i in g_rows], [pr[i].track_id for i in p_rows], np.where(m, d, np.nan)))
    return mot


def match_frame(gt: list[Person], pr: list[Person]) -> FrameMatch:
    """poseval ``assignGTmulti`` for one frame."""
    gt_has, gt_xy, _ = _stack(gt)
    pr_has, pr_xy, pr_score = _stack(pr)
    labels = np.zeros(pr_has.shape, bool)
    if len(gt) and len(pr):
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.linalg.norm(pr_xy[:, None] - gt_xy[None], axis=-1) / head_sizes(gt)[None, :, None]
        dist = np.where(pr_has[:, None] & gt_has[None], d, np.inf)
        match = dist <= DIST_THRESHOLD
        gt_of_pred = _best_gt_per_prediction(match, gt_has)
        matched = gt_of_pred >= 0
        labels[matched] = match[np.flatnonzero(matched), gt_of_pred[matched]]
        mot = _mot_inputs(gt, pr, gt_has, pr_has, dist, match)
    else:  # poseval: one dummy object and one dummy hypothesis that never match, for every joint
        mot = [([0], [0], np.full((1, 1), np.nan)) for _ in range(NUM_JOINTS)]
    scores = [pr_score[pr_has[:, j], j] for j in range(NUM_JOINTS)]
    return FrameMatch(scores, [labels[pr_has[:, j], j] for j in range(NUM_JOINTS)], gt_has.sum(0), mot,
                      dummy_mot=not (len(gt) and len(pr)))


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-points interpolated area under the precision/recall curve (poseval ``VOCap``)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def joint_ap(scores: np.ndarray, labels: np.ndarray, num_gt: float) -> tuple[float, float, float]:
    """(AP, final precision, final recall) in percent for one joint (poseval ``computeRPC`` + ``computeMetrics``):
    0 when nothing was predicted, NaN when predictions exist but no GT joint does."""
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    order = np.asarray(scores, np.float64).argsort()[::-1]  # the same (unstable) sort call as poseval
    tp = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / np.float64(num_gt)
    precision = tp / np.arange(1, len(order) + 1)
    return voc_ap(recall, precision) * 100, precision[-1] * 100, recall[-1] * 100


def _nanmean(values) -> float:
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def _groups(per_joint: np.ndarray, total: float) -> dict[str, float]:
    out = {name: float(np.mean(per_joint[list(idx)])) for name, idx in GROUPS}
    out["Total"] = total
    return out


def compute_ap(matches: list[FrameMatch]) -> dict:
    ap, pre, rec = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
    for j in range(NUM_JOINTS):
        scores = np.concatenate([m.scores[j] for m in matches]) if matches else np.zeros(0)
        labels = np.concatenate([m.labels[j] for m in matches]).astype(np.int8) if matches else np.zeros(0, np.int8)
        ap[j], pre[j], rec[j] = joint_ap(scores, labels, sum(float(m.num_gt[j]) for m in matches))
    total = _nanmean(ap)
    return {"per_joint": ap.tolist(), "precision": pre.tolist(), "recall": rec.tolist(), "total": total,
            "total_precision": _nanmean(pre), "total_recall": _nanmean(rec), "groups": _groups(ap, total)}


def accumulate_mot(sequence_matches: list[list[FrameMatch]]) -> dict[str, np.ndarray]:
    """Per-joint motmetrics counts and summed distances over sequences (poseval ``evaluateTracking``)."""
    mh = mm.metrics.create()
    totals = {name: np.zeros(NUM_JOINTS) for name in (*MOT_COUNTS, "sumD")}
    for seq_index, matches in enumerate(sequence_matches):
        if len(matches) < 2:  # the last frame is left out; poseval fails on a one-frame sequence
            continue
        offset = seq_index * MAX_TRACK_ID  # poseval makes ids unique across sequences; kept for exactness
        for j in range(NUM_JOINTS):
            acc = mm.MOTAccumulator(auto_id=True)
            for m in matches[:-1]:
                gt_ids, pr_ids, dist = m.mot[j]
                shift = 0 if m.dummy_mot else offset
                acc.update([shift + i for i in gt_ids], [shift + i for i in pr_ids], dist)
            counts = mh.compute(acc, metrics=list(MOT_COUNTS), return_dataframe=False, name="acc")
            for name in MOT_COUNTS:
                totals[name][j] += counts[name]
            s = acc.events["D"].sum()
            totals["sumD"][j] += 0.0 if np.isnan(s) else s
    return totals


def compute_mot(totals: dict[str, np.ndarray]) -> dict:
    with np.errstate(divide="ignore", invalid="ignore"):
        objects = np.where(totals["num_objects"] > 0, totals["num_objects"], np.nan)
        fp, det = totals["num_false_positives"], totals["num_detections"]
        mota = 100 * (1.0 - (totals["num_misses"] + totals["num_switches"] + fp) / objects)
        motp = np.where((det == 0) | np.isnan(totals["sumD"]), 0.0, 100 * (1.0 - totals["sumD"] / det))
        precision = 100 * det / np.where(fp + det > 0, fp + det, np.nan)
        recall = 100 * det / objects
        idtp = totals["idtp"]
        idf1 = 100 * 2 * idtp / np.where(2 * idtp + totals["idfp"] + totals["idfn"] > 0,
                                         2 * idtp + totals["idfp"] + totals["idfn"], np.nan)
    total = {"mota": _nanmean(mota), "motp": _nanmean(motp), "precision": _nanmean(precision),
             "recall": _nanmean(recall)}
    identity = {"idf1": _nanmean(idf1), "id_switches": float(totals["num_switches"].sum())}
    return {"mota": mota.tolist(), "motp": motp.tolist(), "precision": precision.tolist(),
            "recall": recall.tolist(), "idf1": idf1.tolist(), "total": total, "identity": identity,
            "groups": _groups(mota, total["mota"]),
            "counts": {k: v.astype(float).tolist() for k, v in totals.items()}}


def evaluate_sequences(sequences: list[Sequence]) -> dict:
    matches = [[match_frame(g.people, p.people) for g, p in zip(s.gt, s.pred)] for s in sequences]
    tracked = all(p.track_id is not None for s in sequences for f in s.pred + s.gt for p in f.people)
    if not tracked:
        log.warning("some people have no track_id: MOTA is not computed (pose estimation AP only)")
    return {"sequences": len(sequences), "frames": sum(len(s.gt) for s in sequences),
            "joints": list(JOINT_NAMES), "ap": compute_ap([m for seq in matches for m in seq]),
            "mot": compute_mot(accumulate_mot(matches)) if tracked else None,
            "hota": evaluate_hota(sequences) if tracked else None}


def evaluate_posetrack(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, only_covered: bool = False) -> dict:
    """PoseTrack mAP and MOT metrics of every sequence of ``gt_dir`` against ``pred_dir`` (PT17 or PT18 files; with
    ``only_covered``, of the sequences that have a prediction: ``posetrack_io.load_sequences``).

    Returns {"sequences", "frames" (labelled frames evaluated), "joints" (15 names, PT17 order),
    "ap": {"per_joint" [15], "precision" [15], "recall" [15], "total", "total_precision", "total_recall",
    "groups" {Head ... Ankle, Total}}, "mot": {"mota", "motp", "precision", "recall" [15 each], "total" {mota,
    motp, precision, recall}, "groups" (MOTA per printed column), "counts" (motmetrics sums per joint)} or None
    when some person has no track id}, "sequences_total" (ground-truth files). Values in percent; NaN where poseval
    gives NaN (e.g. no GT joint).
    """
    sequences, total = load_sequences(gt_dir, pred_dir, only_covered)
    return {**evaluate_sequences(sequences), "sequences_total": total}


def _cells(values: list[float], last_delim: str = " \\\\") -> str:
    """poseval ``getFormatRow``: ``&`` then ``%5.1f`` cells separated by `` &``."""
    cells = ["{:>5}".format("%1.1f" % v) for v in values]
    return "&" + " &".join(cells) + last_delim


def format_table(result: dict) -> str:
    """The tables ``poseval`` prints, same columns and number format (groups: Head Shoulder ... Ankle Total)."""
    ap = result["ap"]["groups"]
    lines = ["Average Precision (AP) metric:", "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\",
             _cells([ap[name] for name, _ in GROUPS] + [ap["Total"]])]
    mot = result.get("mot")
    if mot is not None:
        t = mot["total"]
        lines += ["Multiple Object Tracking (MOT) metrics:",
                  "&" + " MOTA &" * 8 + " MOTP & Prec & Rec  \\\\",
                  "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\",
                  _cells([mot["groups"][name] for name, _ in GROUPS] + [t["mota"], t["motp"], t["precision"],
                                                                        t["recall"]])]
        hota = result.get("hota") or {}
        ident = mot["identity"]
        lines.append(f"Identity: IDF1 {ident['idf1']:.1f}, ID switches {ident['id_switches']:.0f}"
                     + (f"; keypoint HOTA {hota['hota']:.1f} (DetA {hota['deta']:.1f}, AssA {hota['assa']:.1f}; "
                        "PoseTrack21 kit)" if hota else ""))
    return "\n".join(lines)

"""PoseTrack21 keypoint HOTA (DetA, AssA), as the official PoseTrack21 evaluation kit computes it (its TrackEval
fork: ``trackeval/metrics/hota_pose.py`` with the similarities of ``trackeval/datasets/posetrack.py``).

Per joint and frame, a GT and a predicted joint have similarity max(0, 1 - d / 0.5001), d the distance in GT head
sizes (0.6 x head-box diagonal); GT and predictions are matched per joint by the Hungarian method on that
similarity, and a match counts at threshold alpha (0.05, 0.10, ..., 0.95) when its similarity reaches alpha. DetA =
TP / (TP + FN + FP); AssA = the mean over TPs of |TPA| / (|TPA| + |FNA| + |FPA|) of their (GT id, predicted id) pair.
HOTA = sqrt(DetA x AssA) per alpha, averaged over the alphas. Sequences combine as in the kit: counts summed, AssA
weighted by TPs, and the total over joints from the summed counts with the joints' mean AssA. Kept quirks of the
kit: a frame without GT people adds the sequence's predicted joints to FP, and a frame without predictions adds the
sequence's GT joints to FN (the totals, not the frame's); but a sequence without any prediction (or GT person) adds
its GT (predicted) joints once (the kit's early return in ``eval_sequence``). The kit itself fails on a labelled
frame without GT people (and on one whose GT people all lie in ignore regions), so the frame rule is never checked
against it; frames without GT people are left out beforehand, as poseval does.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.posetrack_io import NUM_JOINTS, Sequence

ALPHAS = np.arange(0.05, 0.99, 0.05)  # the kit's array_labels: 19 thresholds
MATCH_DISTANCE = 0.5001  # head sizes at which the similarity reaches 0 (the kit's distance2sim)


def keypoint_similarity(gt_xy, gt_ok, heads, pr_xy, pr_ok) -> np.ndarray:
    """(G, P, J) similarity max(0, 1 - d / 0.5001) of every GT and predicted joint; 0 where either is missing."""
    d = np.linalg.norm(gt_xy[:, None] - pr_xy[None], axis=-1) / heads[:, None, None]
    d = np.where(gt_ok[:, None] & pr_ok[None], d, np.inf)
    return np.maximum(1.0 - d / MATCH_DISTANCE, 0.0)


def _valid(people) -> tuple[np.ndarray, np.ndarray]:
    """(ok (N, 15), xy (N, 15, 2)): a joint counts when written with x > 0 and y > 0 (the kit's test)."""
    has, xy = np.zeros((len(people), NUM_JOINTS), bool), np.zeros((len(people), NUM_JOINTS, 2))
    for i, person in enumerate(people):
        has[i], xy[i], _ = person.joints()
    return has & (xy[..., 0] > 0) & (xy[..., 1] > 0), xy


def head_sizes(gt) -> np.ndarray:
    """0.6 x head-box diagonal per GT person (the kit's ``_get_head_size``, as poseval's)."""
    if any(p.head_box is None for p in gt):
        raise InputError("a ground-truth person has no head box; the keypoint HOTA needs it")
    boxes = np.array([p.head_box for p in gt], np.float64)
    return 0.6 * np.linalg.norm(boxes[:, 2:4] - boxes[:, 0:2], axis=1)


def sequence_hota(seq: Sequence) -> dict:
    """Counts of one sequence: TP, FN, FP (alphas, joints) and AssA (alphas, joints)."""
    gt_ids = {i: k for k, i in enumerate(sorted({p.track_id for f in seq.gt for p in f.people}))}
    pr_ids = {i: k for k, i in enumerate(sorted({p.track_id for f in seq.pred for p in f.people}))}
    a, j = len(ALPHAS), NUM_JOINTS
    tp, fn, fp = np.zeros((a, j)), np.zeros((a, j)), np.zeros((a, j))
    matches = np.zeros((a, len(gt_ids), len(pr_ids), j))
    gt_count, pr_count = np.zeros((len(gt_ids), j)), np.zeros((len(pr_ids), j))
    frames = [(_valid(g.people), _valid(p.people), g.people, p.people) for g, p in zip(seq.gt, seq.pred)]
    for (gt_ok, _), (pr_ok, _), gt, pr in frames:
        np.add.at(gt_count, [gt_ids[p.track_id] for p in gt], gt_ok)
        np.add.at(pr_count, [pr_ids[p.track_id] for p in pr], pr_ok)
    total_gt, total_pr = gt_count.sum(0), pr_count.sum(0)
    if not pr_ids or not gt_ids:  # the kit's early return: the totals once, not once per frame
        return {"tp": tp, "fn": fn + total_gt, "fp": fp + total_pr, "ass_a": np.zeros((a, j))}
    for (gt_ok, gt_xy), (pr_ok, pr_xy), gt, pr in frames:
        if not gt:
            fp += total_pr
            continue
        if not pr:
            fn += total_gt
            continue
        sim = keypoint_similarity(gt_xy, gt_ok, head_sizes(gt), pr_xy, pr_ok)
        g_idx, p_idx = np.array([gt_ids[p.track_id] for p in gt]), np.array([pr_ids[p.track_id] for p in pr])
        for joint in range(j):
            rows, cols = linear_sum_assignment(-sim[:, :, joint])
            for k, alpha in enumerate(ALPHAS):
                ok = sim[rows, cols, joint] >= alpha - np.finfo(float).eps
                tp[k, joint] += ok.sum()
                fn[k, joint] += gt_ok[:, joint].sum() - ok.sum()
                fp[k, joint] += pr_ok[:, joint].sum() - ok.sum()
                matches[k, g_idx[rows[ok]], p_idx[cols[ok]], joint] += 1
    union = np.maximum(1, gt_count[None, :, None] + pr_count[None, None] - matches)
    ass_a = (matches * matches / union).sum((1, 2)) / np.maximum(1, tp)
    return {"tp": tp, "fn": fn, "fp": fp, "ass_a": ass_a}


def combine(per_sequence: list[dict]) -> dict:
    """Per-joint and total DetA, AssA, HOTA (averaged over the alphas, in percent), as the kit's COMBINED_SEQ."""
    tp, fn, fp = (sum(s[k] for s in per_sequence) for k in ("tp", "fn", "fp"))
    ass_joint = sum(s["ass_a"] * s["tp"] for s in per_sequence) / np.maximum(1, tp)
    seq_tp = [s["tp"].sum(1) for s in per_sequence]  # the kit's appended total column: TP summed over joints
    ass_total = sum(s["ass_a"].mean(1) * t for s, t in zip(per_sequence, seq_tp)) / np.maximum(1, sum(seq_tp))
    det_joint = tp / np.maximum(1, tp + fn + fp)
    det_total = tp.sum(1) / np.maximum(1, (tp + fn + fp).sum(1))
    hota_joint, hota_total = np.sqrt(det_joint * ass_joint), np.sqrt(det_total * ass_total)
    return {"hota": 100 * float(hota_total.mean()), "deta": 100 * float(det_total.mean()),
            "assa": 100 * float(ass_total.mean()), "per_joint": {
                "hota": (100 * hota_joint.mean(0)).tolist(), "deta": (100 * det_joint.mean(0)).tolist(),
                "assa": (100 * ass_joint.mean(0)).tolist()}}


def evaluate_hota(sequences: list[Sequence]) -> dict:
    """Keypoint HOTA of tracked predictions (every person with a track id)."""
    return combine([sequence_hota(s) for s in sequences])

"""Heatmap losses: MSPN coarse-to-fine supervision with OHKM and the MDPN multi-domain loss.

Masking choice (MSPN.md section 2 lists both): we follow **MMPose** -- prediction and target are both multiplied by
the keypoint weight (1 = annotated and inside the crop, else 0), so an unannotated or cropped-out joint sends no
gradient at all. megvii instead zeroes the *target* of joints that are not visible (v <= 1) and keeps the prediction,
which trains the network to answer 0 for occluded and unannotated joints; that contradicts MDPN's rule that a sample
back-propagates "only to the annotated joints" (MDPN paper 2.1), and one rule serves both models. Occluded but
annotated joints (COCO v = 1) are trained, as in MMPose. Means run over every element (MMPose
``KeypointMSELoss``), so the loss scale matches the published learning rates.

MSPN per stage: units 0-2 MSE x 0.25, unit 3 (finest) OHKM-MSE over the 8 hardest keypoints x 1.0, summed over
stages (megvii ``_calculate_loss``; MMPose ``MSPNHead`` loss weights). Before OHKM is switched on the finest unit uses
plain MSE x 1.0 (MDPN paper 2.2: "we change the L2 loss to OHKM loss with 8 top keypoints at 100 epochs").
MDPN: each sample is scored by its own domain's head only (rows of other domains are never selected, so other heads
get no gradient from it), at its annotated joints only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from posetrack_cli.train.config import LossConfig


def keypoint_mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """(B, K, H, W) x2, weight (B, K) -> mean over all elements of ((pred - target) * w)^2."""
    w = weight[:, :, None, None].to(pred.dtype)
    return ((pred - target) * w).pow(2).mean()


def per_keypoint_mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """(B, K, H, W) x2, weight (B, K) -> (B, K) mean over each heatmap of ((pred - target) * w)^2."""
    w = weight[:, :, None, None].to(pred.dtype)
    return ((pred - target) * w).pow(2).mean(dim=(2, 3))


def ohkm_select(per_keypoint: Tensor, topk: int) -> Tensor:
    """(B, K) losses -> (B, min(topk, K)) indices of the hardest keypoints of each sample."""
    return per_keypoint.topk(min(topk, per_keypoint.shape[1]), dim=1).indices


def ohkm_mse(pred: Tensor, target: Tensor, weight: Tensor, topk: int = 8) -> Tensor:
    """Online hard keypoint mining (CPN): per sample the mean of its ``topk`` largest per-keypoint MSEs, averaged
    over the batch (MMPose ``KeypointOHKMMSELoss``; megvii divides by topk too, even when fewer joints are annotated).
    With fewer than ``topk`` keypoints every keypoint is kept."""
    losses = per_keypoint_mse(pred, target, weight)
    k = min(topk, losses.shape[1])
    return (losses.gather(1, ohkm_select(losses, k)).sum(dim=1) / k).mean()


@dataclass(frozen=True)
class Supervision:
    """How one predicted heatmap of a model's output list is trained."""

    map_index: int  # which target map (TargetBuilder.table) it is compared with
    weight: float  # loss weight (MSPN: 0.25 for the coarser units, 1.0 for the finest)
    finest: bool  # the stage's finest unit: OHKM applies here once switched on


def mspn_plan(table: list[list[int]], unit_weight: float) -> list[Supervision]:
    """MSPN outputs flattened stage by stage, coarse -> fine: units 0-2 x ``unit_weight``, unit 3 x 1.0 (OHKM)."""
    return [Supervision(index, 1.0 if u == len(stage) - 1 else unit_weight, u == len(stage) - 1)
            for stage in table for u, index in enumerate(stage)]


def single_map_plan(num_outputs: int) -> list[Supervision]:
    """One target map for every output (MDPN ResNet: [final] or [intermediate, final]); OHKM on the final only.
    The paper gives no weight for the intermediate prediction: 1.0."""
    return [Supervision(0, 1.0, j == num_outputs - 1) for j in range(num_outputs)]


def heatmap_loss(preds: Sequence[Tensor], targets: Tensor, weights: Tensor, plan: Sequence[Supervision],
                 ohkm: bool, topk: int) -> Tensor:
    """Sum over the outputs of weight x (OHKM-MSE on finest outputs when ``ohkm``, else MSE).

    preds: each (B, K, h, w); targets (B, M, K', h, w) and weights (B, K') with K' >= K (padding is cut off)."""
    if len(preds) != len(plan):
        raise ValueError(f"the model returned {len(preds)} heatmaps per sample, the supervision plan has {len(plan)}")
    total = targets.new_zeros(())
    for pred, sup in zip(preds, plan):
        k = pred.shape[1]
        target, weight = targets[:, sup.map_index, :k], weights[:, :k]
        if target.shape[-2:] != pred.shape[-2:]:
            raise ValueError(f"heatmap size {tuple(pred.shape[-2:])} != target size {tuple(target.shape[-2:])}")
        if sup.finest and ohkm:
            loss = ohkm_mse(pred.float(), target, weight, topk)
        else:
            loss = keypoint_mse(pred.float(), target, weight)
        total = total + sup.weight * loss
    return total


def mspn_loss(outputs: list[list[Tensor]], targets: Tensor, weights: Tensor, plan: Sequence[Supervision],
              ohkm: bool, cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """outputs[s][u] (B, K, h, w) coarse -> fine (MSPN.forward); targets (B, M, K, h, w); weights (B, K).
    Returns the sum over stages and each stage's part (for the log)."""
    if sum(len(stage) for stage in outputs) != len(plan):
        raise ValueError(f"the model returned {sum(len(s) for s in outputs)} heatmaps, the plan has {len(plan)}")
    total, parts, start = targets.new_zeros(()), {}, 0
    for s, stage in enumerate(outputs):
        loss = heatmap_loss(stage, targets, weights, plan[start:start + len(stage)], ohkm, cfg.ohkm_topk)
        parts[f"stage{s}"] = float(loss.detach())
        total, start = total + loss, start + len(stage)
    return total, parts


def mdpn_loss(outputs: dict[str, list[Tensor]], targets: Tensor, weights: Tensor, domain_index: Tensor,
              domains: Sequence[str], plan: Sequence[Supervision], ohkm: bool,
              cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """outputs[name] = that head's predictions (MDPN.forward), each (B, K_d, h, w); targets (B, M, K_max, h, w)
    and weights (B, K_max) padded to the largest keypoint set; domain_index (B,) = position in ``domains``.

    The loss of domain d uses its own rows only and is weighted by its share of the batch, so every sample counts
    once whatever the mix. A domain absent from the batch contributes nothing: its head's ``.grad`` stays None.
    """
    batch = len(domain_index)
    total = targets.new_zeros(())
    parts = {}
    for d, name in enumerate(domains):
        rows = torch.nonzero(domain_index == d).flatten()
        if rows.numel() == 0:
            continue
        preds = [p.index_select(0, rows) for p in outputs[name]]
        loss = heatmap_loss(preds, targets.index_select(0, rows), weights.index_select(0, rows), plan, ohkm,
                            cfg.ohkm_topk)
        parts[name] = float(loss.detach())
        total = total + loss * (rows.numel() / batch)
    return total, parts

"""The schedule as pure functions of (phase, epoch, iteration): learning rate, OHKM switch, frozen parts.

Nothing here holds state, so the "scheduler state" of a checkpoint is just the counters (phase, epoch, iteration)
and resuming recomputes the same values. The recipes themselves are data (examples/train/*.yaml):

- MSPN, MMPose recipe: Adam 5e-3 (batch 256), linear warm-up over 500 iterations from 0.001 x lr, x0.1 at epochs
  170 and 200, 210 epochs; megvii recipe: Adam 5e-4 per GPU (x 8 GPUs), weight decay 1e-5, linear decay to 0.
- MDPN (paper 2.2): joint multi-domain training 120 epochs at 1e-3, 1e-4 from epoch 90, OHKM from epoch 100; fine-tune
  all on COCO for 15 epochs; freeze backbone + COCO head and fine-tune the other heads on MPII + PoseTrack for 20
  epochs (1e-5 from epoch 10).
"""

from __future__ import annotations

import bisect
import logging

from torch import nn

from posetrack_cli.train.config import ConfigError, PhaseConfig

log = logging.getLogger(__name__)


def lr_at(phase: PhaseConfig, epoch: int, iteration: int, iters_per_epoch: int) -> float:
    """Learning rate at ``iteration`` (0-based, within the epoch) of ``epoch`` (0-based, within the phase)."""
    step = epoch * iters_per_epoch + iteration
    if phase.decay == "step":
        factor = phase.lr_gamma ** bisect.bisect_right(sorted(phase.lr_steps), epoch)
    elif phase.decay == "linear":
        factor = max(0.0, 1.0 - step / float(phase.epochs * iters_per_epoch))
    else:
        factor = 1.0
    if step < phase.warmup_iters:
        factor *= phase.warmup_ratio + (1.0 - phase.warmup_ratio) * step / phase.warmup_iters
    return phase.lr * factor


def ohkm_active(phase: PhaseConfig, epoch: int) -> bool:
    """OHKM on the finest unit from ``phase.ohkm_from_epoch`` on (MDPN: epoch 100 of the joint phase)."""
    return phase.ohkm_from_epoch is not None and epoch >= phase.ohkm_from_epoch


def frozen_names(model: nn.Module, prefixes: tuple[str, ...]) -> list[str]:
    """Parameter names under any of ``prefixes``; a prefix that matches nothing is an error (a typo would
    otherwise silently train everything)."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError(f"frozen prefix {prefix!r} matches no parameter; top-level parts: {', '.join(tops)}")
    return [n for n in names if n.startswith(tuple(prefixes))]


def apply_freeze(model: nn.Module, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
    """Set ``requires_grad`` (False under ``prefixes``, True elsewhere) and return the trainable parameters."""
    frozen = set(frozen_names(model, prefixes))
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
        if name not in frozen:
            trainable.append(param)
    if frozen:
        log.info("frozen: %d parameter tensors under %s", len(frozen), ", ".join(prefixes))
    return trainable


def set_train_mode(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """``model.train()`` except the modules under ``prefixes``, which stay in eval mode so that their BatchNorm
    statistics are frozen together with their weights."""
    model.train()
    for name, module in model.named_modules():
        if name and (name + ".").startswith(tuple(prefixes)):
            module.eval()

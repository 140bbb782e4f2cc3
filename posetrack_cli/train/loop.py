"""The training run: datasets -> model -> phases of epochs -> checkpoints, metrics log, loss plot.

``train(config)`` reads top to bottom: set up (devices, data, model, initial weights, resume), then every phase of
the schedule with its own datasets, frozen parts and optimiser, then the final weights and the plot. Each epoch ends
with an atomic ``checkpoint_last.pth`` (resume point) and, when due, a validation whose result goes to the log.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import yaml
from torch.utils.data import DataLoader

from posetrack_cli.errors import InputError, PosetrackError
from posetrack_cli.io.files import atomic_write
from posetrack_cli.nets.checkpoint import load_checkpoint
from posetrack_cli.nets.mdpn import DEFAULT_DOMAINS
from posetrack_cli.train import distributed as ddp
from posetrack_cli.train.config import TrainConfig, config_to_dict
from posetrack_cli.train.datasets import PersonSet, read_dataset
from posetrack_cli.train.losses import mdpn_loss, mspn_loss
from posetrack_cli.train.model import build_model, initialise, mspn_size, supervision_plan, unwrap
from posetrack_cli.train.samples import MixedSampler, TrainSamples, worker_init
from posetrack_cli.train.schedule import apply_freeze, lr_at, ohkm_active, set_train_mode
from posetrack_cli.train.state import (
    MetricsLog,
    load_training_checkpoint,
    save_training_checkpoint,
    set_rng_state,
    write_loss_plot,
)
from posetrack_cli.train.targets import TargetBuilder
from posetrack_cli.train.validate import evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    final_weights: Path  # weights + meta only: ``posetrack run --pose-weights`` file
    last_checkpoint: Path  # full resume state
    metrics: Path  # JSON Lines log
    plot: Path | None  # loss.png
    steps: int  # optimiser steps taken in all (resumed runs included)
    last_validation: dict | None
    rank: int = 0  # torchrun rank of this process (only rank 0 writes files)


@dataclass
class Run:
    """What the phases share: set once by ``train`` and read by ``_run_phase``."""

    config: TrainConfig
    info: ddp.DistInfo
    device: torch.device
    model: torch.nn.Module
    sets: dict[str, PersonSet]
    targets: TargetBuilder
    plan: list
    scaler: torch.amp.GradScaler
    log: MetricsLog
    meta: dict
    on_step: Callable[[StepReport], None] | None
    step: int = 0
    last_validation: dict | None = None


@dataclass(frozen=True)
class StepReport:
    """One optimiser step as ``train(on_step=...)`` sees it (the CLI draws a progress bar from these)."""

    phase: str
    epoch: int  # 1-based, of ``epochs``
    epochs: int
    iteration: int  # 1-based, of ``iterations`` in this epoch
    iterations: int
    loss: float
    images_per_s: float
    lr: float


def train(config: TrainConfig, device: str | None = None, resume: bool = False,
          on_step: Callable[[StepReport], None] | None = None) -> TrainResult:
    """Train by ``config``'s phases; ``on_step`` is called on the main process after every optimiser step."""
    info, dev = ddp.setup(device or config.device)
    threads = torch.get_num_threads()
    if dev.type == "cpu" and config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    try:
        return _train(config, info, dev, resume, on_step)
    finally:
        torch.set_num_threads(threads)
        ddp.teardown(info)


def _train(config: TrainConfig, info: ddp.DistInfo, dev: torch.device, resume: bool,
           on_step: Callable[[StepReport], None] | None) -> TrainResult:
    out = Path(config.output_dir)
    last_path = out / "checkpoint_last.pth"
    torch.manual_seed(config.seed + info.rank)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    sets = _read_sets(config)
    model = build_model(config.model, _keypoints_per_domain(config, sets))
    ckpt = None
    if resume:
        if not last_path.is_file():
            raise InputError(f"--resume: {last_path} does not exist; start without --resume")

        ckpt = load_training_checkpoint(last_path)
        init_note = str(load_checkpoint(model, ckpt).get("init", "resumed"))
        log.info("resuming from %s at %s", last_path, ckpt.get("scheduler"))
    else:
        init_note = initialise(model, config.model)
    if config.model.sync_bn:
        model = ddp.convert_sync_bn(model, info)
    model.to(dev)
    targets = TargetBuilder(config.target, config.model.input_size, config.model.heatmap_size,
                            config.model.num_stages)
    amp = config.amp and dev.type == "cuda"
    run = Run(config, info, dev, model, sets, targets, supervision_plan(config.model, targets, config.loss),
              torch.amp.GradScaler("cuda", enabled=amp), MetricsLog(out / "metrics.jsonl", info.is_main),
              _meta(config, sets, init_note), on_step)
    if info.is_main:
        if not resume:  # a fresh run starts a fresh log (its checkpoints replace the old run's too)
            run.log.path.unlink(missing_ok=True)
        with atomic_write(out / "config.yaml") as handle:
            yaml.safe_dump(config_to_dict(config), handle, sort_keys=False)
    counters = dict(ckpt["scheduler"]) if ckpt and "scheduler" in ckpt else {"phase": 0, "epoch": 0, "step": 0}
    run.step = counters["step"]
    for index in range(counters["phase"], len(config.phases)):
        start_epoch = counters["epoch"] if index == counters["phase"] else 0
        _run_phase(run, index, start_epoch, ckpt if start_epoch > 0 else None)
    final = out / "model_final.pth"
    plot = None
    if info.is_main:
        last_phase = config.phases[-1]
        save_training_checkpoint(final, unwrap(model), {**run.meta, "phase": last_phase.name,
                                                        "epoch": last_phase.epochs, "step": run.step})
        plot = write_loss_plot(run.log.read(), out / "loss.png")
    ddp.barrier(info)
    return TrainResult(out, final, last_path, run.log.path, plot, run.step, run.last_validation, info.rank)


def _read_sets(config: TrainConfig) -> dict[str, PersonSet]:
    names = {n for p in config.phases for n in p.datasets}
    if config.validation is not None:
        names.add(config.validation.dataset)
    sets = {}
    for d in config.datasets:
        if d.name in names:
            sets[d.name] = read_dataset(d.format, d.annotations, d.images)
            if len(sets[d.name]) == 0:
                raise InputError(f"dataset {d.name} ({d.annotations}) holds no annotated people")
    return sets


def _keypoints_per_domain(config: TrainConfig, sets: dict[str, PersonSet]) -> dict[str, int]:
    counts: dict[str, set[int]] = {}
    for name, people in sets.items():
        domain = "main" if config.model.kind == "mspn" else config.domain_of(name)
        counts.setdefault(domain, set()).add(people.skeleton.num_keypoints)
    if config.model.kind == "mdpn":

        for domain in config.model.domains:
            counts.setdefault(domain, {DEFAULT_DOMAINS[domain]} if domain in DEFAULT_DOMAINS else set())
    bad = {d: sorted(c) for d, c in counts.items() if len(c) != 1}
    if bad:
        raise InputError(f"each model head needs one keypoint set; keypoint counts per head: {bad}")
    return {d: next(iter(c)) for d, c in counts.items()}


def _meta(config: TrainConfig, sets: dict[str, PersonSet], init_note: str) -> dict:
    skeletons = {}
    for name, people in sets.items():
        domain = "main" if config.model.kind == "mspn" else config.domain_of(name)
        skeletons[domain] = people.skeleton
    meta = {"model": config.model.kind, "num_stages": config.model.num_stages, "backbone": config.model.backbone,
            "input_size": list(config.model.input_size), "init": init_note,
            "skeletons": {d: s.name for d, s in skeletons.items()},
            "keypoints": {d: list(s.keypoints) for d, s in skeletons.items()}, "config": config_to_dict(config)}
    if config.model.kind == "mspn":
        skeleton = skeletons["main"]
        meta.update(skeleton=skeleton.name, num_keypoints=skeleton.num_keypoints,
                    network_args={"num_stages": config.model.num_stages, "num_keypoints": skeleton.num_keypoints,
                                  **{k: list(v) if isinstance(v, tuple) else v
                                     for k, v in mspn_size(config.model).items()}})
    return meta


def _domain_index(config: TrainConfig, name: str) -> int:
    return 0 if config.model.kind == "mspn" else config.model.domains.index(config.domain_of(name))


def _loader(run: Run, samples: TrainSamples, sampler: MixedSampler, batch_size: int) -> DataLoader:
    """Full batches only (BatchNorm), unless the phase has fewer people than one batch."""
    workers = run.config.workers
    return DataLoader(samples, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=run.device.type == "cuda", persistent_workers=workers > 0,
                      worker_init_fn=worker_init, drop_last=len(sampler) >= batch_size)


def _run_phase(run: Run, index: int, start_epoch: int, ckpt: dict | None) -> None:
    config, phase = run.config, run.config.phases[index]
    net = unwrap(run.model)
    optimizer = torch.optim.Adam(apply_freeze(net, phase.frozen), lr=phase.lr, weight_decay=phase.weight_decay)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") and run.scaler.is_enabled():  # empty when saved without AMP (CPU)
            run.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
    model = ddp.wrap(net, run.info, run.device, find_unused=config.model.kind == "mdpn")
    samples = TrainSamples([run.sets[n] for n in phase.datasets], [_domain_index(config, n) for n in phase.datasets],
                           run.targets, config.augment, config.model.input_size)
    sampler = MixedSampler([len(run.sets[n]) for n in phase.datasets],
                           [config.dataset(n).weight for n in phase.datasets], config.seed, index,
                           run.info.rank, run.info.world_size)
    loader = _loader(run, samples, sampler, phase.batch_size)
    iters = len(loader) if config.max_iters_per_epoch is None else min(len(loader), config.max_iters_per_epoch)
    log.info("phase %s: %s, %d people, %d epochs x %d iterations", phase.name, "+".join(phase.datasets),
             len(samples), phase.epochs, iters)
    for epoch in range(start_epoch, phase.epochs):
        sampler.set_epoch(epoch)
        set_train_mode(net, phase.frozen)
        _run_epoch(run, model, optimizer, loader, index, epoch, iters)
        last_epoch = epoch + 1 == phase.epochs
        due = phase.val_every and (epoch + 1) % phase.val_every == 0
        if config.validation is not None and (due or last_epoch) and run.info.is_main:
            _validate(run, index, epoch)
        if run.info.is_main:
            counters = ({"phase": index + 1, "epoch": 0, "step": run.step} if last_epoch
                        else {"phase": index, "epoch": epoch + 1, "step": run.step})
            meta = {**run.meta, "phase": phase.name, "epoch": epoch + 1, "step": run.step}
            save_training_checkpoint(Path(config.output_dir) / "checkpoint_last.pth", net, meta, optimizer,
                                     run.scaler, counters)
        ddp.barrier(run.info)


def _run_epoch(run: Run, model, optimizer, loader: DataLoader, index: int, epoch: int, iters: int) -> None:
    config, phase = run.config, run.config.phases[index]
    ohkm = ohkm_active(phase, epoch)
    tic, rate = time.perf_counter(), None
    for it, batch in enumerate(loader):
        if it >= iters:
            break
        lr = lr_at(phase, epoch, it, iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts = _step(run, model, optimizer, batch, ohkm)
        run.step += 1
        toc = time.perf_counter()
        images = len(batch["image"]) * run.info.world_size
        rate = images / (toc - tic) if rate is None else 0.9 * rate + 0.1 * images / (toc - tic)
        tic = toc
        if run.on_step is not None and run.info.is_main:
            run.on_step(StepReport(phase.name, epoch + 1, phase.epochs, it + 1, iters, loss, rate, lr))
        if run.step % config.log_every == 0 or it + 1 == iters:
            run.log.write({"kind": "train", "phase": phase.name, "epoch": epoch + 1, "iter": it + 1,
                           "step": run.step, "loss": loss, "lr": lr, "ohkm": ohkm, "img_per_s": rate,
                           "time": time.time(), **{f"loss_{k}": v for k, v in parts.items()}})


def _step(run: Run, model, optimizer, batch: dict, ohkm: bool) -> tuple[float, dict]:
    dev, config = run.device, run.config
    images = batch["image"].to(dev, non_blocking=True)
    targets = batch["targets"].to(dev, non_blocking=True)
    weights = batch["weights"].to(dev, non_blocking=True)
    with torch.autocast(dev.type, dtype=torch.float16, enabled=run.scaler.is_enabled()):
        outputs = model(images)
    if config.model.kind == "mspn":
        loss, parts = mspn_loss(outputs, targets, weights, run.plan, ohkm, config.loss)
    else:
        loss, parts = mdpn_loss(outputs, targets, weights, batch["domain"].to(dev), config.model.domains, run.plan,
                                ohkm, config.loss)
    value = ddp.mean_across(float(loss.detach()), run.info, dev)  # every rank sees a NaN of any rank
    if not math.isfinite(value) and not run.scaler.is_enabled():  # with AMP the scaler skips the step instead
        raise PosetrackError(f"training loss became {value} at step {run.step + 1}; lower the learning rate "
                             f"or check the data (resume from {config.output_dir}/checkpoint_last.pth)")
    optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(optimizer)
    run.scaler.update()
    return value, parts


def _validate(run: Run, index: int, epoch: int) -> None:
    config, val = run.config, run.config.validation
    d = config.dataset(val.dataset)
    domain = "main" if config.model.kind == "mspn" else (val.domain or config.domain_of(val.dataset))
    domain_index = 0 if config.model.kind == "mspn" else config.model.domains.index(domain)
    samples = TrainSamples([run.sets[val.dataset]], [domain_index], run.targets, config.augment,
                           config.model.input_size, train=False)
    t0 = time.perf_counter()
    result = evaluate(unwrap(run.model), samples, d.format, val.metric, d.annotations, domain, run.device,
                      val.batch_size, run.scaler.is_enabled(), config.workers)
    record = {"kind": "val", "phase": config.phases[index].name, "epoch": epoch + 1, "step": run.step,
              "dataset": val.dataset, "seconds": time.perf_counter() - t0,
              **{k: v for k, v in result.items() if isinstance(v, (int, float, str)) and not
                 (isinstance(v, float) and math.isnan(v))}}
    run.log.write(record)
    run.last_validation = record
    log.info("validation %s after %s epoch %d: %s = %.4f", val.dataset, record["phase"], epoch + 1,
             result["metric_name"], result["metric"])


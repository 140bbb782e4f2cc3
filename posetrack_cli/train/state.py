"""Resumable training checkpoints, the metrics log and the loss plot.

A checkpoint is ``{"state_dict": model.state_dict(), "meta": {...}}`` -- the layout ``posetrack run --pose-weights``
loads (nets/checkpoint.py, ``mmpose1``) -- plus, for resuming, ``optimizer``, ``scaler`` (AMP), ``scheduler`` (the
counters the pure schedule is computed from) and ``rng`` (torch, CUDA, numpy, Python). Everything is plain tensors,
numbers and strings so that it reads back with ``torch.load(weights_only=True)``; files are written atomically.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import cv2
import numpy as np
import torch

from posetrack_cli.io.files import atomic_write
from posetrack_cli.nets.checkpoint import read_checkpoint

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "posetrack-train/1"


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_training_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict, optimizer=None, scaler=None,
                             counters: dict | None = None) -> Path:
    """Write the model (loadable by --pose-weights) and everything a resume needs, atomically."""
    ckpt = {"state_dict": model.state_dict(), "meta": {"format": CHECKPOINT_FORMAT, **meta}}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    if counters is not None:
        ckpt["scheduler"] = dict(counters)
        ckpt["rng"] = rng_state()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(ckpt, handle)
    return path


def load_training_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by ``save_training_checkpoint`` (weights_only read, one-line errors)."""
    return dict(read_checkpoint(path))


class MetricsLog:
    """JSON Lines, one object per record, appended and flushed as training goes (survives a crash)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def draw_loss_plot(steps: np.ndarray, losses: np.ndarray, size: tuple[int, int] = (800, 480),
                   title: str = "training loss") -> np.ndarray:
    """A line plot (BGR uint8 image) of loss against iteration, drawn with OpenCV (no plotting dependency)."""
    w, h = size
    left, right, top, bottom = 80, 20, 40, 50
    img = np.full((h, w, 3), 255, np.uint8)
    steps, losses = np.asarray(steps, np.float64), np.asarray(losses, np.float64)
    ok = np.isfinite(losses)
    steps, losses = steps[ok], losses[ok]
    cv2.putText(img, title, (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    if len(steps) == 0:
        return img
    x0, x1 = steps.min(), max(steps.max(), steps.min() + 1)
    y0, y1 = min(losses.min(), 0.0), max(losses.max(), 1e-12)
    px = left + (steps - x0) / (x1 - x0) * (w - left - right)
    py = (h - bottom) - (losses - y0) / (y1 - y0) * (h - top - bottom)
    pts = np.stack([px, py], 1).round().astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, (200, 80, 0), 2, cv2.LINE_AA)
    for frac in (0.0, 0.5, 1.0):
        value = y0 + frac * (y1 - y0)
        y = int(round((h - bottom) - frac * (h - top - bottom)))
        cv2.putText(img, f"{value:.4g}", (5, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        x = int(round(left + frac * (w - left - right)))
        cv2.putText(img, f"{x0 + frac * (x1 - x0):.0f}", (x - 15, h - bottom + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "iteration", (w // 2 - 30, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def write_loss_plot(metrics: list[dict], path: str | Path) -> Path | None:
    """loss.png from the log's training records (``step``, ``loss``); None when there is nothing to draw."""
    rows = [(r["step"], r["loss"]) for r in metrics if r.get("kind") == "train" and "loss" in r]
    if not rows:
        log.info("no training records: loss plot skipped")
        return None
    steps, losses = np.array(rows, np.float64).T
    ok, png = cv2.imencode(".png", draw_loss_plot(steps, losses))
    if not ok:
        return None
    with atomic_write(path, "wb") as handle:
        handle.write(png.tobytes())
    return Path(path)

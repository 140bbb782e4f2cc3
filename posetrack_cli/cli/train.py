"""``posetrack train CONFIG.yaml``: parse options -> TrainConfig -> posetrack_cli.train.loop.train -> summary.

Registered by the main CLI with ``main.add_command(train_cmd)``; errors are ``PosetrackError`` (one line, exit code).
Multi-GPU: ``torchrun --nproc_per_node=N -m posetrack_cli train CONFIG.yaml``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from posetrack_cli.cli.progress import EpochBars
from posetrack_cli.train.config import load_config
from posetrack_cli.train.loop import train
from posetrack_cli.train.state import MetricsLog


@click.command("train")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from OUTPUT_DIR/checkpoint_last.pth (model, optimiser, "
              "schedule position and RNG state).")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (overrides the config's device).")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None,
              help="Where checkpoints, metrics.jsonl and loss.png go (overrides the config's output_dir).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def train_cmd(config_path: Path, resume: bool, device: str | None, output_dir: Path | None, quiet: bool) -> None:
    """Train MSPN or MDPN from a YAML schedule (see examples/train/)."""
    config = load_config(config_path)
    if output_dir is not None:
        config = replace(config, output_dir=str(output_dir))
    bars = None if quiet else EpochBars()
    try:
        result = train(config, device=device, resume=resume, on_step=bars)
    finally:
        if bars is not None:
            bars.close()
    if result.rank != 0:
        return
    click.echo(f"trained {result.steps} steps -> {result.final_weights}")
    losses = [(r["step"], r["loss"]) for r in MetricsLog(result.metrics).read() if r.get("kind") == "train"]
    if losses:
        (first_step, first), (last_step, last) = losses[0], losses[-1]
        click.echo(f"        loss {first:.4g} (step {first_step}) -> {last:.4g} (step {last_step})")
    click.echo(f"        resume state {result.last_checkpoint}, metrics {result.metrics}"
               + (f", plot {result.plot}" if result.plot else ""))
    if result.last_validation:
        v = result.last_validation
        click.echo(f"        last validation ({v['dataset']}, {v['metric_name']}): {v['metric']:.4f}")
